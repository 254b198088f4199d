/**
 * Client for one agent's HTTPS API, authenticated with a client certificate (mutual TLS).
 * Used by the CLI, and by agents to fetch a snapshot from a peer during a restore.
 * Every call has a timeout; errors are RemoteError (transient when the agent could not be reached; never for a 403,
 * which says this client's certificate may not call that route).
 */
import type { IncomingMessage } from "node:http";
import { request, Agent } from "node:https";
import type { Readable } from "node:stream";
import {
  ArchiveError,
  ChecksumMismatchError,
  NotFoundError,
  RemoteError,
  UserError,
  describeError,
} from "../util/errors.js";
import type { TlsFiles } from "./http.js";

export interface AgentClientOptions {
  /** host:port of the agent. */
  endpoint: string;
  tls: TlsFiles;
  /** Timeout for connecting and for any silence on the connection, in ms. */
  timeoutMs?: number;
}

export class AgentClient {
  private readonly agent: Agent;
  private readonly host: string;
  private readonly port: number;
  private readonly timeoutMs: number;

  constructor(readonly options: AgentClientOptions) {
    const [host, port] = splitHostPort(options.endpoint);
    this.host = host;
    this.port = port;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.agent = new Agent({
      ca: options.tls.caPEM,
      cert: options.tls.certPEM,
      key: options.tls.keyPEM,
      // A fresh connection per request: calls are few, and a reused idle socket can be closed by the server at the
      // very moment it is reused (ECONNRESET in the middle of a restore).
      keepAlive: false,
    });
  }

  get endpoint(): string {
    return this.options.endpoint;
  }

  /** GET/POST/DELETE returning parsed JSON; non-2xx statuses become errors carrying the agent's message. */
  async json<T>(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<T> {
    const res = await this.send(method, path, body, timeoutMs);
    const text = await readAll(res);
    if (res.statusCode !== undefined && res.statusCode >= 300)
      throw errorFromResponse(this.endpoint, res.statusCode, text);
    return (text.length ? JSON.parse(text) : {}) as T;
  }

  /**
   * POSTs `body` and reads a newline-delimited JSON response, calling `onEvent` for each line.
   * Long operations (snapshot save) report progress this way; the silence timeout applies between lines.
   */
  async stream(method: string, path: string, body: unknown, onEvent: (event: unknown) => void): Promise<void> {
    const res = await this.send(method, path, body);
    if (res.statusCode !== undefined && res.statusCode >= 300) {
      throw errorFromResponse(this.endpoint, res.statusCode, await readAll(res));
    }
    let buffered = "";
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        buffered += chunk.toString("utf8");
        let nl: number;
        while ((nl = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (line) onEvent(JSON.parse(line));
        }
      }
    } catch (err) {
      // A connection cut mid-response surfaces as a bare "aborted" (ECONNRESET): say which agent it was.
      if ((err as NodeJS.ErrnoException).code !== "ECONNRESET") throw err;
      throw new RemoteError(`agent ${this.endpoint} closed the response early (${describeError(err)})`, true, {
        cause: err,
      });
    }
    if (!res.complete) throw new RemoteError(`agent ${this.endpoint} closed the response early`, true);
  }

  /** Opens a raw byte stream (a snapshot file served by a peer agent). */
  async download(path: string): Promise<{ body: Readable; size: number | undefined; sha256: string | undefined }> {
    const res = await this.send("GET", path, undefined);
    if (res.statusCode !== undefined && res.statusCode >= 300) {
      throw errorFromResponse(this.endpoint, res.statusCode, await readAll(res));
    }
    const length = res.headers["content-length"];
    const digest = res.headers["x-lifeboat-sha256"];
    return {
      body: res,
      size: length === undefined ? undefined : Number(length),
      sha256: typeof digest === "string" ? digest : undefined,
    };
  }

  close(): void {
    this.agent.destroy();
  }

  private send(method: string, path: string, body: unknown, timeoutMs = this.timeoutMs): Promise<IncomingMessage> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.host,
          port: this.port,
          method,
          path,
          agent: this.agent,
          timeout: timeoutMs,
          headers: payload ? { "content-type": "application/json", "content-length": payload.length } : {},
        },
        (res) => {
          res.setTimeout(timeoutMs, () =>
            res.destroy(new RemoteError(`agent ${this.endpoint} went silent for ${timeoutMs} ms`, true)),
          );
          resolve(res);
        },
      );
      req.on("timeout", () =>
        req.destroy(new RemoteError(`agent ${this.endpoint} did not answer within ${timeoutMs} ms`, true)),
      );
      req.on("error", (err) => reject(toRemoteError(this.endpoint, err)));
      req.end(payload);
    });
  }
}

function toRemoteError(endpoint: string, err: Error): Error {
  if (err instanceof RemoteError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? "";
  if (/CERT|SSL|TLS|certificate/i.test(code + err.message)) {
    return new RemoteError(`TLS handshake with agent ${endpoint} failed: ${err.message}`, false, { cause: err });
  }
  // The code (ECONNREFUSED) is what the socket's message says, next to the address already named.
  return new RemoteError(`cannot reach agent ${endpoint}: ${code || err.message}`, true, {
    cause: err,
    causeShown: code !== "",
  });
}

function errorFromResponse(endpoint: string, status: number, text: string): Error {
  let message = text;
  let kind = "";
  try {
    const body = JSON.parse(text) as { error?: string; kind?: string };
    message = body.error ?? text;
    kind = body.kind ?? "";
  } catch {
    // not JSON: keep the raw text
  }
  const full = `agent ${endpoint}: ${message}`;
  if (status === 404) return new NotFoundError(full);
  if (kind === "ArchiveError") return new ArchiveError(full);
  if (status === 422 || kind === "ChecksumMismatchError") return new ChecksumMismatchError(full);
  if (status === 400) return new UserError(full);
  // 403: this certificate is not allowed on that route; retrying with the same one cannot help.
  if (status === 403) return new RemoteError(full, false);
  return new RemoteError(full, status === 503 || status === 409);
}

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

export function splitHostPort(endpoint: string): [string, number] {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(endpoint);
  if (!m?.[1] || !m[2]) throw new UserError(`agent endpoint "${endpoint}" is not host:port`);
  return [m[1], Number(m[2])];
}
