/**
 * The agent's HTTP layer: an HTTPS server that demands a client certificate signed by the cluster's agent CA
 * (mutual TLS: anything else is refused during the handshake, before any request is read), a tiny router whose
 * routes each say which identities may call them (authz.ts; checked before a handler runs or a body is read),
 * and JSON helpers that validate every request body with a schema.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { TLSSocket } from "node:tls";
import type { z } from "zod";
import { callerOf, commonNameOf, describeAccess, type Access } from "./authz.js";
import {
  ArchiveError,
  ChecksumMismatchError,
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
  params: Record<string, string>;
  url: URL;
  /** Common name of the client certificate that authenticated this request. */
  peer: string;
  /** Aborted when the agent begins to stop: long work ends early, cleans up, and the handler returns. */
  stopping: AbortSignal;
}

export type Handler = (ctx: RequestContext) => Promise<void>;

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

interface Route {
  method: string;
  path: string;
  pattern: RegExp;
  keys: string[];
  access: Access;
  handler: Handler;
}

/** A registered route as listed by `Router.routes()`. */
export type RouteInfo = Pick<Route, "method" | "path" | "access">;

export class Router {
  private readonly table: Route[] = [];

  /**
   * Registers `handler` for `method path`, callable only by the identities in `access`; `:name` segments become
   * params (URL-decoded).
   */
  on(method: string, path: string, access: Access, handler: Handler): this {
    const keys: string[] = [];
    const source = path.replace(/:(\w+)/g, (_, key: string) => {
      keys.push(key);
      return "([^/]+)";
    });
    this.table.push({ method, path, pattern: new RegExp(`^${source}$`), keys, access, handler });
    return this;
  }

  /** Every registered route with who may call it (tests and docs enumerate these). */
  routes(): RouteInfo[] {
    return this.table.map(({ method, path, access }) => ({ method, path, access: { allow: [...access.allow] } }));
  }

  match(method: string, pathname: string): { route: Route; params: Record<string, string> } | "method" | undefined {
    let pathMatched = false;
    for (const route of this.table) {
      const m = route.pattern.exec(pathname);
      if (!m) continue;
      pathMatched = true;
      if (route.method !== method) continue;
      const params: Record<string, string> = {};
      route.keys.forEach((k, i) => (params[k] = decodeURIComponent(m[i + 1] ?? "")));
      return { route, params };
    }
    return pathMatched ? "method" : undefined;
  }
}

/** Maps a thrown error to an HTTP status; the body always carries `{ error, kind }`. */
function statusFor(err: unknown): number {
  if (err instanceof HttpError) return err.status;
  if (err instanceof NotFoundError) return 404;
  if (err instanceof ConfigError || err instanceof UserError) return 400;
  if (err instanceof ChecksumMismatchError || err instanceof ArchiveError) return 422;
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
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new HttpError(
      400,
      `invalid request: ${first ? `${first.path.join(".") || "(body)"}: ${first.message}` : "?"}`,
    );
  }
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
  const caller = callerOf(cert);
  if (!caller || !found.route.access.allow.includes(caller))
    return forbid(res, log, peer, `${req.method} ${url.pathname}`, found.route.access);
  try {
    await found.route.handler({ req, res, params: found.params, url, peer, stopping });
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
