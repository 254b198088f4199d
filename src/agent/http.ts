/**
 * The agent's HTTP layer: an HTTPS server that demands a client certificate signed by the cluster's agent CA
 * (mutual TLS: anything else is refused during the handshake, before any request is read), and a tiny router that
 * serves the entries of the route table (src/api/routes.ts): each says which identities may call it (authz.ts;
 * checked before a handler runs or a body is read), how its parameters and body parse, and what it answers.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import { pipeline, type Readable } from "node:stream";
import type { TLSSocket } from "node:tls";
import type { z } from "zod";
import { mismatch } from "../api/check.js";
import {
  firstIssue,
  routeName,
  type Access,
  type AnyRoute,
  type ParamSchema,
  type ParsedParams,
  type ParsedRequest,
  type Reply,
} from "../api/route.js";
import { callerOf, commonNameOf, describeAccess } from "./authz.js";
import {
  ArchiveError,
  ChecksumMismatchError,
  IdentityError,
  ConfigError,
  NotFoundError,
  UserError,
  describeError,
} from "../util/errors.js";
import type { Logger } from "../util/log.js";

export interface TlsFiles {
  caPEM: string;
  certPEM: string;
  keyPEM: string;
}

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** Common name of the client certificate that authenticated this request. */
  peer: string;
  /** Aborted when the agent begins to stop: long work ends early, cleans up, and the handler returns. */
  stopping: AbortSignal;
}

/** What a handler of `route` is given: the request, and its path parameters and body parsed by their schemas. */
export type RouteContext<R extends AnyRoute> = RequestContext & {
  params: ParsedParams<R>;
  body: ParsedRequest<R>;
} & (R["reply"] extends { kind: "events"; schema: infer S extends z.ZodType } ? EventStream<z.input<S>> : unknown);

/** The response of an events route: the 200 goes with `open` or the first event; the router ends it. */
export interface EventStream<E> {
  /** Sends the 200 and its headers now (a long step follows; errors from now on are events). */
  open: () => void;
  /** Sends one event line. */
  emit: (event: E) => void;
}

/** A raw body: the stream is piped to the response, which says `size` bytes. */
export interface RawBody {
  body: Readable;
  /** Sent as content-length; without it the body is chunked (a file still growing). */
  size?: number | undefined;
}

/** What a handler of `route` returns: the JSON document, the text, the raw body, or nothing (events). */
export type RouteAnswer<R extends AnyRoute> = R["reply"] extends { kind: "json"; schema: infer S extends z.ZodType }
  ? z.input<S>
  : R["reply"] extends { kind: "text" }
    ? string
    : R["reply"] extends { kind: "raw" }
      ? RawBody
      : void;

export type RouteHandler<R extends AnyRoute> = (ctx: RouteContext<R>) => Promise<RouteAnswer<R>>;

/** An error with an HTTP status, thrown by handlers for expected refusals (409 busy, 400 bad request...). */
export class HttpError extends Error {
  override name = "HttpError";
  constructor(
    readonly status: number,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

interface Entry {
  route: AnyRoute;
  pattern: RegExp;
  keys: string[];
  run: (ctx: RequestContext, params: Record<string, string>) => Promise<void>;
}

/** A registered route as listed by `Router.routes()`. */
export interface RouteInfo {
  method: string;
  path: string;
  access: Access;
}

export interface RouterOptions {
  /**
   * Check every JSON document and event against its route's schema before it is sent (tests and development): one
   * that does not match exactly is a 500 naming the route and the field, never a silently different answer.
   */
  checkResponses?: boolean;
}

export class Router {
  private readonly table: Entry[] = [];

  constructor(private readonly options: RouterOptions = {}) {}

  /**
   * Registers `handler` for `route` (an entry of src/api/routes.ts), callable only by the identities in its access.
   * Its `:params` are URL-decoded and parsed, and its body read and parsed, after the caller is known to be allowed;
   * a bad one is a 400 naming it. The handler's answer is sent as the route says (JSON, events, text, raw).
   */
  route<R extends AnyRoute>(route: R, handler: RouteHandler<R>): this {
    const keys: string[] = [];
    const source = route.path.replace(/:(\w+)/g, (_, key: string) => {
      keys.push(key);
      return "([^/]+)";
    });
    const run = async (base: RequestContext, raw: Record<string, string>) => {
      const params = parseParams(route, raw);
      const body = route.request ? await readJson(base.req, route.request) : undefined;
      await this.answer(route, handler, { ...base, params, body } as RouteContext<R>);
    };
    this.table.push({ route, pattern: new RegExp(`^${source}$`), keys, run });
    return this;
  }

  /** Every registered route with who may call it (tests and docs enumerate these). */
  routes(): RouteInfo[] {
    return this.table.map(({ route }) => ({
      method: route.method,
      path: route.path,
      access: { allow: [...route.access.allow] },
    }));
  }

  match(method: string, pathname: string): { entry: Entry; params: Record<string, string> } | "method" | undefined {
    let pathMatched = false;
    for (const entry of this.table) {
      const m = entry.pattern.exec(pathname);
      if (!m) continue;
      pathMatched = true;
      if (entry.route.method !== method) continue;
      const params: Record<string, string> = {};
      entry.keys.forEach((k, i) => (params[k] = decodeURIComponent(m[i + 1] ?? "")));
      return { entry, params };
    }
    return pathMatched ? "method" : undefined;
  }

  private async answer<R extends AnyRoute>(route: R, handler: RouteHandler<R>, ctx: RouteContext<R>): Promise<void> {
    const { res } = ctx;
    const reply: Reply = route.reply;
    // One cast per kind: RouteAnswer<R> is resolved by the kind, which TypeScript cannot narrow R by.
    const run = handler as (ctx: unknown) => Promise<unknown>;
    switch (reply.kind) {
      case "json": {
        const value = await run(ctx);
        this.check(route, reply.schema, value);
        return sendJson(res, 200, value);
      }
      case "events": {
        const open = () => void (res.headersSent || res.writeHead(200, { "content-type": NDJSON }));
        const emit = (event: unknown) => {
          this.check(route, reply.schema, event);
          open();
          res.write(JSON.stringify(event) + "\n");
        };
        await run({ ...ctx, open, emit });
        open();
        if (!res.writableEnded) res.end();
        return;
      }
      case "text": {
        const text = (await run(ctx)) as string;
        res.writeHead(200, { "content-type": reply.contentType, "content-length": Buffer.byteLength(text) });
        res.end(text);
        return;
      }
      case "raw": {
        const raw = (await run(ctx)) as RawBody;
        res.writeHead(200, {
          "content-type": reply.contentType,
          ...(raw.size === undefined ? {} : { "content-length": raw.size }),
        });
        // pipeline: a body that fails (a file removed while it is served) breaks the response off, never the agent.
        pipeline(raw.body, res, () => undefined);
        return;
      }
    }
  }

  private check(route: AnyRoute, schema: z.ZodType, value: unknown): void {
    if (!this.options.checkResponses) return;
    const why = mismatch(schema, value);
    if (why) throw new Error(`${routeName(route)}: the answer does not match the API: ${why}`);
  }
}

const NDJSON = "application/x-ndjson";

/** Each `:param` parsed by its schema: a bad one is a 400 naming the parameter (its schema's description). */
function parseParams<R extends AnyRoute>(route: R, raw: Record<string, string>): ParsedParams<R> {
  const out: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries<ParamSchema>(route.params)) {
    const parsed = schema.safeParse(raw[key] ?? "");
    if (!parsed.success)
      throw new HttpError(400, `${schema.description ?? key}: ${parsed.error.issues[0]?.message ?? "invalid"}`);
    out[key] = parsed.data;
  }
  return out as ParsedParams<R>;
}

/** Maps a thrown error to an HTTP status; the body always carries `{ error, kind }`. */
function statusFor(err: unknown): number {
  if (err instanceof HttpError) return err.status;
  if (err instanceof NotFoundError) return 404;
  if (err instanceof ConfigError || err instanceof UserError) return 400;
  if (err instanceof ChecksumMismatchError || err instanceof ArchiveError || err instanceof IdentityError) return 422;
  return 500;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** Reads and validates a JSON body of at most `limit` bytes. */
export async function readJson<T extends z.ZodType>(
  req: IncomingMessage,
  schema: T,
  limit = 64 << 20,
): Promise<z.infer<T>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError(413, `request body over ${limit} bytes`);
    chunks.push(chunk);
  }
  let value: unknown;
  try {
    value = size === 0 ? {} : JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch (err) {
    throw new HttpError(400, `request body is not valid JSON: ${describeError(err)}`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new HttpError(400, `invalid request: ${firstIssue(parsed.error)}`);
  return parsed.data;
}

export interface AgentServerOptions {
  tls: TlsFiles;
  router: Router;
  log: Logger;
  requests: InFlight;
}

/**
 * The request handlers running now. A stopping agent aborts them and waits until they have returned, so that the
 * process never exits halfway through a handler's cleanup (a temp file not yet removed, a history not yet written).
 */
export class InFlight {
  private readonly running = new Set<Promise<void>>();
  private readonly stop_ = new AbortController();
  readonly stopping = this.stop_.signal;

  /** Runs `handler`, keeping it in the set until it settles. */
  async track(handler: () => Promise<void>): Promise<void> {
    const work = handler();
    this.running.add(work);
    try {
      await work;
    } finally {
      this.running.delete(work);
    }
  }

  /** Aborts `stopping` with `reason`, then waits for every handler, at most `graceMs`; false if some still run. */
  async stop(reason: Error, graceMs: number): Promise<boolean> {
    this.stop_.abort(reason);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), graceMs)));
    const settled = Promise.allSettled([...this.running]).then(() => true);
    try {
      return await Promise.race([settled, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  get size(): number {
    return this.running.size;
  }
}

/** Creates the mutual-TLS server. Requests without a CA-signed client certificate never reach a handler. */
export function createAgentServer({ tls, router, log, requests }: AgentServerOptions): Server {
  const server = createServer(
    {
      ca: tls.caPEM,
      cert: tls.certPEM,
      key: tls.keyPEM,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.2",
    },
    (req, res) => void requests.track(() => dispatch(router, req, res, log, requests.stopping)),
  );
  server.on("tlsClientError", (err) => log.debug("refused TLS client", { error: err.message }));
  return server;
}

async function dispatch(
  router: Router,
  req: IncomingMessage,
  res: ServerResponse,
  log: Logger,
  stopping: AbortSignal,
): Promise<void> {
  const url = new URL(req.url ?? "/", "https://agent");
  const socket = req.socket as TLSSocket;
  const cert = socket.authorized ? socket.getPeerCertificate() : undefined;
  const peer = commonNameOf(cert) ?? "(no single common name)";
  const found = router.match(req.method ?? "GET", url.pathname);
  if (found === undefined) return sendJson(res, 404, { error: `no route ${url.pathname}`, kind: "NotFound" });
  if (found === "method")
    return sendJson(res, 405, { error: `${req.method} not allowed on ${url.pathname}`, kind: "Method" });
  const { route } = found.entry;
  const caller = callerOf(cert);
  if (!caller || !route.access.allow.includes(caller))
    return forbid(res, log, peer, `${req.method} ${url.pathname}`, route.access);
  try {
    await found.entry.run({ req, res, url, peer, stopping }, found.params);
  } catch (err) {
    const status = statusFor(err);
    const kind = err instanceof Error ? err.name : "Error";
    if (status >= 500) log.error("request failed", { path: url.pathname, error: describeError(err) });
    if (res.headersSent) {
      res.destroy(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    sendJson(res, status, { error: describeError(err), kind });
  }
}

/** 403 before the handler runs and before the body is read; logged, since it may be a compromised node probing. */
function forbid(res: ServerResponse, log: Logger, peer: string, route: string, access: Access): void {
  log.warn("refused request", { peer, route });
  const error = `client certificate "${peer}" may not call ${route} (allowed: ${describeAccess(access)})`;
  // The unread body is not wanted: close the connection rather than drain it.
  res.setHeader("connection", "close");
  sendJson(res, 403, { error, kind: "Forbidden" });
}
