/**
 * The one place a store is opened from settings. Every caller (the agent's routes and schedule, the CLI's commands,
 * the tests) gets the same composition: secrets registered with `redact` before anything can print them, a location
 * known at once, and the S3 client (with its timeouts and retries inside) loaded lazily on first use.
 */
import { registerSecret } from "../util/redact.js";
import { lazyStore } from "./lazy.js";
import type { S3Config, S3Timeouts } from "./s3-client.js";
import type { S3Settings } from "../config/s3-settings.js";
import { s3Location } from "./s3-location.js";
import type { Store } from "./store.js";

export interface OpenStoreDeps {
  /** Per-call timeouts of the S3 client (default `DEFAULT_TIMEOUTS`). */
  timeouts?: S3Timeouts;
  /** Builds the inner store; the default loads the AWS SDK and connects. Tests pass a fake to watch `close`. */
  connect?: (config: S3Config) => Promise<Store>;
}

/**
 * Opens the S3 store `settings` describe; never throws: settings the client refuses (an endpoint or proxy URL that
 * does not parse, credentials given by halves) fail the first call with a `UserError`. Close it when done.
 */
export function openStore(settings: S3Settings, deps: OpenStoreDeps = {}): Store {
  for (const secret of [settings.accessKey, settings.secretKey, settings.sessionToken]) registerSecret(secret);
  const config: S3Config = deps.timeouts ? { ...settings, timeouts: deps.timeouts } : settings;
  const connect = deps.connect ?? connectS3Store;
  return lazyStore("s3", s3Location(settings), () => connect(config));
}

async function connectS3Store(config: S3Config): Promise<Store> {
  const { S3Store } = await import("./s3.js");
  return new S3Store(config);
}

/** Runs `fn` with `store` (none is fine) and closes the store afterwards, whatever `fn` did. */
export async function closing<S extends Store | undefined, T>(store: S, fn: (store: S) => Promise<T>): Promise<T> {
  try {
    return await fn(store);
  } finally {
    await store?.close();
  }
}
