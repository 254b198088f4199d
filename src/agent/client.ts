/**
 * Client for one agent's HTTPS API, authenticated with a client certificate (mutual TLS).
 * Used by the CLI, and by agents to fetch a snapshot from a peer during a restore.
 * Every call has a timeout; errors are RemoteError (transient when the agent could not be reached; never for a 403,
 * which says this client's certificate may not call that route).
 */
import type { IncomingMessage } from "node:http";
import { request, Agent } from "node:https";
import type { Readable } from "node:stream";
import type { z } from "zod";
import {
  firstIssue,
  pathOf,
  routeName,
  type AnyRoute,
  type EventsRoute,
  type JsonRoute,
  type ParamsOf,
  type RawRoute,
  type ReplyOf,
  type RequestOf,
  type TextRoute,
} from "../api/route.js";
import {
  ArchiveError,
  ChecksumMismatchError,
  IdentityError,
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

/** What a call gives besides the route: its path parameters and body (when the route has them), and a timeout. */
export type CallOptions<R extends AnyRoute> = { timeoutMs?: number } & ([keyof ParamsOf<R>] extends [never]
  ? { params?: undefined }
  : { params: ParamsOf<R> }) &
  (R["request"] extends z.ZodType ? { body: RequestOf<R> } : { body?: undefined });

/** Options that may be left out when nothing in them is required. */
type OptionsArg<O> = Partial<O> extends O ? [options?: O] : [options: O];

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

  /**
   * Calls a JSON route of the table (src/api/routes.ts) and returns its answer parsed by the route's schema. A
   * non-2xx status is an error carrying the agent's message; an answer that does not match the schema is a
   * RemoteError naming the agent, the route and the first issue (not transient: asking again gets the same).
   */
  async call<R extends JsonRoute>(route: R, ...[options]: OptionsArg<CallOptions<R>>): Promise<ReplyOf<R>> {
    const res = await this.send(route, options ?? {});
    const text = await readAll(res);
    if (res.statusCode !== undefined && res.statusCode >= 300)
      throw errorFromResponse(this.endpoint, res.statusCode, text);
    return this.parse(route, route.reply.schema, text.length ? text : "{}") as ReplyOf<R>;
  }

  /**
   * Calls an events route and reads its newline-delimited JSON answer, giving `onEvent` each line parsed by the
   * route's event schema. Long operations (snapshot save) report progress this way; the silence timeout applies
   * between lines.
   */
  async callStream<R extends EventsRoute>(
    route: R,
    options: CallOptions<R> & { onEvent: (event: ReplyOf<R>) => void },
  ): Promise<void> {
    const res = await this.send(route, options);
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
          if (line) options.onEvent(this.parse(route, route.reply.schema, line) as ReplyOf<R>);
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

  /** Opens the byte stream of a raw or text route (a snapshot file served by a peer agent, the metrics). */
  async download<R extends RawRoute | TextRoute>(
    route: R,
    ...[params]: OptionsArg<ParamsOf<R>>
  ): Promise<{ body: Readable; size: number | undefined; sha256: string | undefined }> {
    const res = await this.send(route, { params: params ?? {} });
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

  /** `text` (one JSON document or event line) parsed by `schema`; anything else is a RemoteError naming the route. */
  private parse(route: AnyRoute, schema: z.ZodType, text: string): unknown {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw this.badAnswer(route, `not JSON (${describeError(err)})`);
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw this.badAnswer(route, firstIssue(parsed.error));
    return parsed.data;
  }

  private badAnswer(route: AnyRoute, why: string): RemoteError {
    return new RemoteError(
      `agent ${this.endpoint}: ${routeName(route)}: the answer does not match the API: ${why}`,
      false,
    );
  }

  close(): void {
    this.agent.destroy();
  }

  private send(
    route: AnyRoute,
    options: { params?: Record<string, string>; body?: unknown; timeoutMs?: number | undefined },
  ): Promise<IncomingMessage> {
    const { method } = route;
    const path = pathOf(route, options.params ?? {});
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
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
  if (kind === "IdentityError") return new IdentityError(full);
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
