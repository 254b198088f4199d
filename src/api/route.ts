/**
 * What one agent route is: method, path (with `:param` segments, each parsed by its schema), who may call it, the
 * request body's schema and what it answers with. The route table (routes.ts) is built from these; the agent's
 * router registers handlers by entry and the client calls by entry, so neither side spells a path or a type again.
 */
import type { z } from "zod";

/**
 * `cli`: the operator's `lifeboat-cli`; `agent`: a peer agent's `lifeboat-agent-<member>`; `metrics`: a scraper's
 * `lifeboat-metrics`, which Lifeboat never issues itself (the operator does, from the cluster CA, for Prometheus).
 */
export type Caller = "cli" | "agent" | "metrics";

/** The identities allowed on a route; every route must say it, so no route is open by omission. */
export interface Access {
  allow: readonly Caller[];
}

export type Method = "GET" | "POST" | "PUT" | "DELETE";

/** The `:name` segments of a path template, as a union of their names. */
export type ParamNames<P extends string> = P extends `${string}:${infer N}/${infer Rest}`
  ? N | ParamNames<`/${Rest}`>
  : P extends `${string}:${infer N}`
    ? N
    : never;

/** A path parameter's schema: it arrives as a string and stays one. */
export type ParamSchema = z.ZodType<string, string>;

type ParamSchemas<P extends string> = { readonly [K in ParamNames<P>]: ParamSchema };

/**
 * What a route answers with: one JSON document, newline-delimited JSON events (a long operation reporting as it
 * goes), text (Prometheus metrics), or raw bytes (a snapshot file).
 */
export type Reply =
  | { readonly kind: "json"; readonly schema: z.ZodType }
  | { readonly kind: "events"; readonly schema: z.ZodType }
  | { readonly kind: "text"; readonly contentType: string }
  | { readonly kind: "raw"; readonly contentType: string };

export interface Route<
  P extends string = string,
  Q extends z.ZodType | undefined = z.ZodType | undefined,
  R extends Reply = Reply,
> {
  readonly method: Method;
  readonly path: P;
  readonly access: Access;
  readonly params: ParamSchemas<P>;
  /** The body's schema; a route without one reads no body. */
  readonly request: Q;
  readonly reply: R;
}

type ParamSpec<P extends string> = [ParamNames<P>] extends [never]
  ? { params?: undefined }
  : { params: ParamSchemas<P> };

type Spec<P extends string, Q extends z.ZodType | undefined> = {
  method: Method;
  path: P;
  access: Access;
  request?: Q;
} & ParamSpec<P>;

function make<P extends string, Q extends z.ZodType | undefined, R extends Reply>(
  spec: Spec<P, Q>,
  reply: R,
): Route<P, Q, R> {
  const params = (spec.params ?? {}) as ParamSchemas<P>;
  return { method: spec.method, path: spec.path, access: spec.access, params, request: spec.request as Q, reply };
}

/** A route answering one JSON document. */
export function jsonRoute<P extends string, S extends z.ZodType, Q extends z.ZodType | undefined = undefined>(
  spec: Spec<P, Q> & { response: S },
): Route<P, Q, { kind: "json"; schema: S }> {
  return make(spec, { kind: "json", schema: spec.response });
}

/** A route answering newline-delimited JSON, one `events` value per line. */
export function eventsRoute<P extends string, S extends z.ZodType, Q extends z.ZodType | undefined = undefined>(
  spec: Spec<P, Q> & { events: S },
): Route<P, Q, { kind: "events"; schema: S }> {
  return make(spec, { kind: "events", schema: spec.events });
}

/** A route answering text of `contentType`. */
export function textRoute<P extends string>(
  spec: Spec<P, undefined> & { contentType: string },
): Route<P, undefined, { kind: "text"; contentType: string }> {
  return make(spec, { kind: "text", contentType: spec.contentType });
}

/** A route answering raw bytes (a stream the client reads itself). */
export function rawRoute<P extends string>(
  spec: Spec<P, undefined>,
): Route<P, undefined, { kind: "raw"; contentType: string }> {
  return make(spec, { kind: "raw", contentType: "application/octet-stream" });
}

export type AnyRoute = Route<string, z.ZodType | undefined, Reply>;
export type JsonRoute = Route<string, z.ZodType | undefined, { kind: "json"; schema: z.ZodType }>;
export type EventsRoute = Route<string, z.ZodType | undefined, { kind: "events"; schema: z.ZodType }>;
export type TextRoute = Route<string, undefined, { kind: "text"; contentType: string }>;
export type RawRoute = Route<string, undefined, { kind: "raw"; contentType: string }>;

/** The path parameters a caller gives: strings, checked by the agent. */
export type ParamsOf<R extends AnyRoute> = { [K in keyof R["params"]]: string };
/** The path parameters a handler gets, parsed by their schemas. */
export type ParsedParams<R extends AnyRoute> = { [K in keyof R["params"]]: z.output<R["params"][K]> };
/** The body a caller sends (defaults not yet applied). */
export type RequestOf<R extends AnyRoute> = R["request"] extends z.ZodType ? z.input<R["request"]> : undefined;
/** The body a handler gets, parsed (defaults applied). */
export type ParsedRequest<R extends AnyRoute> = R["request"] extends z.ZodType ? z.output<R["request"]> : undefined;
/** What a JSON or events route's handler must produce, and what its client gets back. */
export type ReplyOf<R extends AnyRoute> = R["reply"] extends { schema: infer S extends z.ZodType }
  ? z.output<S>
  : never;

/** `route.path` with each `:param` replaced by its URL-encoded value. */
export function pathOf(route: AnyRoute, params: Record<string, string>): string {
  return route.path.replace(/:(\w+)/g, (_, key: string) => {
    const value = params[key];
    if (value === undefined) throw new Error(`${route.method} ${route.path}: no value for :${key}`);
    return encodeURIComponent(value);
  });
}

/** `GET /v1/status`: how errors and docs name a route. */
export function routeName(route: { method: string; path: string }): string {
  return `${route.method} ${route.path}`;
}

/** A zod error's first issue as `field.path: message` (`(body)` when it is about the whole value). */
export function firstIssue(error: z.ZodError): string {
  const first = error.issues[0];
  if (!first) return "invalid";
  return `${first.path.map(String).join(".") || "(body)"}: ${first.message}`;
}
