/** Pure checks and conversions for addresses, host:port pairs and URLs written in cluster.yml. */
import { isIP } from "node:net";

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/** True for an IPv4/IPv6 address or an RFC 1123 host name. */
export function isAddress(value: string): boolean {
  return isIP(value) !== 0 || HOST_NAME.test(value);
}

/** `host:port`, with IPv6 hosts in brackets. */
export function joinHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

/** Parses `host:port` (`[v6]:port` for IPv6); `port` is required and must be 1-65535. */
export function parseHostPort(value: string): Parsed<{ host: string; port: number }> {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(value) ?? /^([^:[\]]+):(\d+)$/.exec(value);
  if (!m || m[1] === undefined || m[2] === undefined) {
    return { ok: false, message: `must be host:port (e.g. 10.0.0.1:7443), got "${value}"` };
  }
  const port = Number(m[2]);
  if (!isAddress(m[1])) return { ok: false, message: `"${m[1]}" is not an IP address or host name` };
  if (port < 1 || port > 65535) return { ok: false, message: `port ${m[2]} is out of range 1-65535` };
  return { ok: true, value: { host: m[1], port } };
}

/** Parses an `http://` or `https://` URL with a host and no path, query or credentials; returns it without a trailing slash. */
export function parseBaseUrl(value: string): Parsed<string> {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { ok: false, message: `"${value}" is not a valid URL` };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return { ok: false, message: `"${value}" must start with http:// or https://` };
  }
  if (url.username || url.password) return { ok: false, message: "must not contain credentials" };
  if ((url.pathname !== "/" && url.pathname !== "") || url.search || url.hash) {
    return { ok: false, message: `"${value}" must not have a path or query` };
  }
  return { ok: true, value: `${url.protocol}//${url.host}` };
}

/** Parses any http(s) URL (webhooks, proxies); credentials are allowed and stay in the value. */
export function parseHttpUrl(value: string): Parsed<string> {
  try {
    const url = new URL(value);
    if (url.protocol === "http:" || url.protocol === "https:") return { ok: true, value };
  } catch {
    // reported below
  }
  return { ok: false, message: `must be an http:// or https:// URL` };
}

/**
 * Turns an S3 `endpoint` into a base URL. RKE takes a bare `host[:port]` and always speaks HTTPS; Lifeboat also
 * accepts an explicit `http://` or `https://` scheme.
 */
export function parseS3Endpoint(value: string): Parsed<string> {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return parseBaseUrl(value);
  const bare = value.replace(/\/$/, "");
  const withPort = /^(\[[^\]]+\]|[^:/[\]]+)(?::(\d+))?$/.exec(bare);
  const host = withPort?.[1]?.replace(/^\[(.*)\]$/, "$1");
  if (!withPort || host === undefined || !isAddress(host)) {
    return { ok: false, message: `"${value}" is not a host[:port] or an http(s):// URL` };
  }
  return parseBaseUrl(`https://${bare}`);
}
