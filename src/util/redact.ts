/**
 * One place that removes secrets from anything printed: logs, errors, reports, configs.
 *
 * Secrets are found two ways. By value: PEM private keys, age identities, credentials in URLs, and every value
 * registered with `registerSecret` (S3 keys, session tokens, webhook headers) are masked wherever they appear in text.
 * By field name: a field named like a secret (`secret_key`, `keyPEM`, `password`, `sessionToken`, ...) is masked
 * whole, whatever it holds. A field merely named `key` is not a secret: it is an S3 object key or an etcd key, and
 * operators need to see it; a private key under such a name is still caught by its value.
 */

/** Whole (normalised) field names that are secrets. */
const SECRET_NAMES = new Set(["token", "private", "accesskey", "accesskeyid"]);
/**
 * Endings of (normalised) field names that are secrets. Any name ending in `token` is not: etcd's
 * `initialClusterToken` only names a cluster and is printed in every restore plan.
 */
const SECRET_ENDINGS = [
  "secretkey",
  "secretaccesskey",
  "secret",
  "password",
  "passwd",
  "passphrase",
  "privatekey",
  "keypem",
  "sessiontoken",
  "accesstoken",
  "refreshtoken",
  "authtoken",
  "bearertoken",
  "apitoken",
  "apikey",
  "authorization",
  "cookie",
  "credential",
  "credentials",
  "identity",
  "identities",
];
/** A PEM private key, also one cut short (a truncated log line) that has no END line. */
const PEM_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g;
/** An age identity (an age private key), as `age-keygen` writes it. */
const AGE_IDENTITY = /AGE-SECRET-KEY-1[0-9A-Z]+/g;
const URL_CREDENTIALS = /(\w+:\/\/)[^/@\s:]+:[^/@\s]+@/g;

/** Whether a field of this name holds a secret: `secret_key`, `secretKey` and `SECRET-KEY` all do. */
export function isSecretName(name: string): boolean {
  let secret = judgedNames.get(name);
  if (secret === undefined) {
    const n = name.toLowerCase().replace(/[-_\s]/g, "");
    secret = SECRET_NAMES.has(n) || SECRET_ENDINGS.some((ending) => n.endsWith(ending));
    // A listing prints thousands of objects with the same few field names: each is judged once.
    if (judgedNames.size < 10_000) judgedNames.set(name, secret);
  }
  return secret;
}
const judgedNames = new Map<string, boolean>();

/** Returns a deep copy of `value` with secret fields masked and secrets inside text removed. */
export function redact<T>(value: T): T {
  return redactValue(value, new WeakSet()) as T;
}

/** `ancestors` holds the objects on the path to `value`: a cycle is cut, an object shared by two fields is not. */
function redactValue(value: unknown, ancestors: WeakSet<object>): unknown {
  if (typeof value === "string") return redactText(value);
  if (value === null || typeof value !== "object") return value;
  if (ancestors.has(value)) return "[circular]";
  if (value instanceof Error) return redactText(value.message);
  ancestors.add(value);
  try {
    if (Array.isArray(value)) return value.map((v) => redactValue(v, ancestors));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = isSecretName(k) && v !== "" && v !== undefined && v !== null ? "***" : redactValue(v, ancestors);
    }
    return out;
  } finally {
    ancestors.delete(value);
  }
}

const registered = new Set<string>();

/** Registers a secret value (an S3 key read from config) so that `redactText` masks it wherever it appears. */
export function registerSecret(secret: string | undefined): void {
  if (secret && secret.length >= 4) registered.add(secret);
}

/** Masks PEM private keys, age identities, URL credentials and registered secret values inside free text. */
export function redactText(text: string): string {
  // Each pattern only where its fixed part occurs: the same result, without running every regex over every string.
  let out = text;
  if (out.includes("-----BEGIN ")) out = out.replace(PEM_KEY, "[private key]");
  if (out.includes("AGE-SECRET-KEY-1")) out = out.replace(AGE_IDENTITY, "***");
  if (out.includes("://")) out = out.replace(URL_CREDENTIALS, "$1***@");
  for (const s of registered) if (out.includes(s)) out = out.split(s).join("***");
  return out;
}
