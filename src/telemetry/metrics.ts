/**
 * A minimal Prometheus registry: counters, gauges and histograms with labels, rendered in the text exposition
 * format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/). Written by hand to avoid a
 * dependency for ~100 lines: `# HELP` and `# TYPE` once per family, one sample per label set, label values escaped
 * (backslash, double quote, newline), histogram buckets cumulative with a final `+Inf`, plus `_sum` and `_count`.
 */

export type Labels = Readonly<Record<string, string>>;

type Kind = "counter" | "gauge" | "histogram";

interface Family {
  name: string;
  help: string;
  kind: Kind;
  render(): string[];
}

/** Holds every metric family of one process, in registration order. */
export class Registry {
  private readonly families: Family[] = [];
  /** Run before each render, to set values that depend on the time of the scrape ("seconds since ..."). */
  private readonly collectors: (() => void)[] = [];

  counter(name: string, help: string): Counter {
    return this.add(new Counter(name, help));
  }

  gauge(name: string, help: string): Gauge {
    return this.add(new Gauge(name, help));
  }

  histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    return this.add(new Histogram(name, help, buckets));
  }

  /** Runs `fn` before every render; it typically sets gauges derived from the time of the scrape. */
  onCollect(fn: () => void): void {
    this.collectors.push(fn);
  }

  /** The whole registry in the text exposition format (ends with a newline). */
  render(): string {
    for (const collect of this.collectors) collect();
    const lines: string[] = [];
    for (const f of this.families) {
      const samples = f.render();
      if (samples.length === 0) continue;
      lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.kind}`, ...samples);
    }
    return lines.join("\n") + "\n";
  }

  private add<T extends Family>(family: T): T {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(family.name)) throw new Error(`invalid metric name ${family.name}`);
    this.families.push(family);
    return family;
  }
}

/** Values keyed by their label set. */
abstract class Series<V> {
  protected readonly series = new Map<string, { labels: Labels; value: V }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  protected entry(labels: Labels, init: () => V): { labels: Labels; value: V } {
    const key = labelText(labels);
    let e = this.series.get(key);
    if (!e) {
      e = { labels, value: init() };
      this.series.set(key, e);
    }
    return e;
  }
}

export class Counter extends Series<number> implements Family {
  readonly kind = "counter";

  inc(labels: Labels = {}, by = 1): void {
    if (by < 0) throw new Error(`counter ${this.name} cannot decrease`);
    this.entry(labels, () => 0).value += by;
  }

  get(labels: Labels = {}): number {
    return this.series.get(labelText(labels))?.value ?? 0;
  }

  render(): string[] {
    return [...this.series.values()].map((e) => `${this.name}${labelText(e.labels)} ${formatValue(e.value)}`);
  }
}

export class Gauge extends Series<number> implements Family {
  readonly kind = "gauge";

  set(labels: Labels, value: number): void {
    this.entry(labels, () => 0).value = value;
  }

  /** Removes the sample (a gauge with no meaningful value is absent, not zero). */
  clear(labels: Labels = {}): void {
    this.series.delete(labelText(labels));
  }

  get(labels: Labels = {}): number | undefined {
    return this.series.get(labelText(labels))?.value;
  }

  render(): string[] {
    return [...this.series.values()].map((e) => `${this.name}${labelText(e.labels)} ${formatValue(e.value)}`);
  }
}

interface HistogramValue {
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram extends Series<HistogramValue> implements Family {
  readonly kind = "histogram";
  private readonly buckets: readonly number[];

  constructor(name: string, help: string, buckets: readonly number[]) {
    super(name, help);
    this.buckets = [...buckets].sort((a, b) => a - b);
  }

  observe(labels: Labels, value: number): void {
    const e = this.entry(labels, () => ({ counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    this.buckets.forEach((le, i) => {
      if (value <= le) e.value.counts[i]! += 1;
    });
    e.value.sum += value;
    e.value.count += 1;
  }

  render(): string[] {
    return [...this.series.values()].flatMap(({ labels, value }) => [
      ...this.buckets.map(
        (le, i) => `${this.name}_bucket${labelText({ ...labels, le: formatValue(le) })} ${value.counts[i]}`,
      ),
      `${this.name}_bucket${labelText({ ...labels, le: "+Inf" })} ${value.count}`,
      `${this.name}_sum${labelText(labels)} ${formatValue(value.sum)}`,
      `${this.name}_count${labelText(labels)} ${value.count}`,
    ]);
  }
}

function labelText(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return "";
  return `{${keys.map((k) => `${k}="${escapeLabel(labels[k] ?? "")}"`).join(",")}}`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** Go-style floats: integers without a fraction, `+Inf`, `-Inf`, `NaN`. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}
