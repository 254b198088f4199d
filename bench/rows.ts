/** The table's rows: each case's series turned into ratios against its baseline and judged against issue 6's targets. */
import { formatSize } from "./lib/args.js";
import { compareRow, figureRow, sequence, type Row, type Sample, type Series, type Target } from "./lib/results.js";
import type { ListSeries } from "./cases/list.js";
import type { RestoreSeries } from "./cases/restore.js";
import type { SaveSubject } from "./cases/save.js";

const MIB = 1024 ** 2;

export const TARGETS = {
  save: { max: 2.0, text: "<= 2.0x" },
  busy: { max: 1.15, text: "<= 1.15x" },
  rke: { max: 0.6, text: "<= 0.6x" },
  s3: { max: 1.3, text: "<= 1.3x" },
  memory: { max: 128 * MIB, text: "<= 128 MiB" },
  flat: { max: 1.1, text: "<= 1.10x (flat)" },
  restore: { max: 1.5, text: "<= 1.5x" },
  list: { max: 1.5, text: "<= 1.5x" },
} satisfies Record<string, Target>;

export function saveRows(s: Partial<Record<SaveSubject, Series>>): Row[] {
  const rows: Row[] = [];
  const { "lifeboat-local": local, "lifeboat-local-store": store, "lifeboat-s3": s3, etcdctl, zip } = s;
  const encrypted = s["lifeboat-s3-encrypted"];
  if (local && etcdctl) {
    rows.push(compareRow("1", "Save, local only, wall time", "wallMs", local, etcdctl, TARGETS.save));
    const what = "Member busy (first to last byte from etcd) during lifeboat-local vs etcdctl's whole save";
    rows.push(compareRow("1", what, "wallMs", memberBusy(local), etcdctl, TARGETS.busy));
  }
  if (store && etcdctl) {
    rows.push(compareRow("1", "Save with compression: none, wall time", "wallMs", store, etcdctl, TARGETS.busy));
  }
  for (const series of [local, s3]) {
    if (series) rows.push(figureRow("1", `Agent CPU time (all threads) during ${series.label}`, "agentCpuMs", series));
  }
  if (local && etcdctl && zip) {
    const rke = sequence("etcdctl snapshot save, then zip", etcdctl, zip);
    rows.push(compareRow("2", "Save vs RKE's pipeline, wall time", "wallMs", local, rke, TARGETS.rke));
  }
  if (local && s3) {
    rows.push(compareRow("3", "Save + S3 upload vs local only, wall time", "wallMs", s3, local, TARGETS.s3));
  }
  for (const series of [local, s3]) {
    if (series) rows.push(figureRow("4", `Agent peak RSS during ${series.label}`, "agentRss", series, TARGETS.memory));
  }
  const idle = s3 ?? local;
  if (idle) rows.push(figureRow("4", "Agent RSS before a save (idle)", "agentStartRss", idle));
  for (const series of [local, s3]) {
    if (series) rows.push(figureRow("4", `CLI peak RSS during ${series.label}`, "peakRss", series));
  }
  if (etcdctl) rows.push(figureRow("4", "etcdctl peak RSS (for scale)", "peakRss", etcdctl));
  if (encrypted && s3) {
    rows.push(compareRow("enc", "Save + encrypted S3 upload vs plain, wall time", "wallMs", encrypted, s3, TARGETS.s3));
    rows.push(figureRow("enc", `Agent peak RSS during ${encrypted.label}`, "agentRss", encrypted, TARGETS.memory));
  }
  return rows;
}

/**
 * The member-busy time of each run as its wall time, to compare with etcdctl's whole save (which holds the member
 * for all of its run but the process's start).
 */
function memberBusy(series: Series): Series {
  const busy = (r: Sample): Sample => ({ ...r, wallMs: r.memberMs ?? Number.NaN });
  return { label: `${series.label} (member busy)`, warmup: busy(series.warmup), runs: series.runs.map(busy) };
}

/** Median output size of each save subject, for the notes: what each pipeline leaves on disk. */
export function sizeNotes(s: Partial<Record<SaveSubject, Series>>): string[] {
  const sizes = Object.entries(s).map(([k, v]) => {
    const bytes = [...v.runs.map((r) => r.bytes ?? 0)].sort((a, b) => a - b)[v.runs.length >> 1] ?? 0;
    return `${k} ${(bytes / MIB).toFixed(1)} MiB`;
  });
  return sizes.length ? [`Output sizes (archive, or etcdctl's file): ${sizes.join(", ")}.`] : [];
}

export function memoryAtRows(big: Series, main: Series, bigDb: number, mainDb: number): Row[] {
  const bigLabelled = { ...big, label: `lifeboat-s3 at ${formatSize(bigDb)}` };
  const mainLabelled = { ...main, label: `lifeboat-s3 at ${formatSize(mainDb)}` };
  return [
    figureRow("4", `Agent peak RSS during a save at ${formatSize(bigDb)}`, "agentRss", bigLabelled, TARGETS.memory),
    compareRow("4", "Agent peak RSS, larger DB vs default DB", "agentRss", bigLabelled, mainLabelled, TARGETS.flat),
  ];
}

/** The target is set at 1,000 snapshots; smaller listings are reported (the CLI's start-up weighs more there). */
export function listRows(list: ListSeries[]): Row[] {
  return list.map((l) => {
    const what = `Listing ${l.count} snapshots in S3, wall time`;
    if (l.count >= 1000) return compareRow("6", what, "wallMs", l.lifeboat, l.bare, TARGETS.list);
    return compareRow("6", what, "wallMs", l.lifeboat, l.bare, undefined, "reported");
  });
}

export function restoreRows(r: RestoreSeries): Row[] {
  if (!r.lifeboat) {
    return [
      figureRow(
        "5",
        "3-member restore from S3, wall time",
        "wallMs",
        r.floor,
        undefined,
        "floor only: no restore command yet",
      ),
    ];
  }
  return [
    compareRow("5", "3-member restore from S3 vs floor, wall time", "wallMs", r.lifeboat, r.floor, TARGETS.restore),
  ];
}
