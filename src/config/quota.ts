/**
 * Bounds of `lifeboat.etcd.quota_backend_bytes` (and the sandbox's `--quota-backend-bytes`): 1 MiB, and etcd's
 * documented largest backend quota, 8 GiB. Without dependencies, so that the CLI's flag parser can load it cheaply.
 */
export const MIN_QUOTA_BYTES = 1 << 20;
export const MAX_QUOTA_BYTES = 8 * 1024 ** 3;
export const QUOTA_RULE = `a whole number of bytes from ${MIN_QUOTA_BYTES} (1 MiB) to ${MAX_QUOTA_BYTES} (8 GiB)`;
