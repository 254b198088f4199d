/**
 * One place that removes secrets from anything printed: logs, errors, reports, configs.
 * Keys whose name looks secret are replaced by "***"; PEM private keys are replaced wherever they appear in text.
 */
const SECRET_KEY = /(secret|password|token|private|^key$|keypem|access_?key|credentials?|authorization|session)/i;
const PEM_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g;

/** Returns a deep copy of `value` with secret-looking fields masked. */
export function redact<T>(value: T): T {
  return redactValue(value, new WeakSet()) as T;
}

function redactValue(value: unknown, seen: WeakSet<object>): unknown {
  if (typeof value === "string") return redactText(value);
  if (value === null || typeof value !== "object") return value;
  if (seen.has(value)) return "[circular]";
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => redactValue(v, seen));
  if (value instanceof Error) return redactText(value.message);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY.test(k) && v !== "" && v !== undefined && v !== null ? "***" : redactValue(v, seen);
  }
  return out;
}

const registered = new Set<string>();

/** Registers a secret value (an S3 key read from config) so that `redactText` masks it wherever it appears. */
export function registerSecret(secret: string | undefined): void {
  if (secret && secret.length >= 4) registered.add(secret);
}

/** Masks PEM private keys, URL credentials and registered secret values inside free text. */
export function redactText(text: string): string {
  let out = text.replace(PEM_KEY, "[private key]").replace(/(\w+:\/\/)[^/@\s:]+:[^/@\s]+@/g, "$1***@");
  for (const s of registered) out = out.split(s).join("***");
  return out;
}
