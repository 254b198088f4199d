/**
 * Checks that keep the contract and the code from drifting: a type-level equality for types that live in a module
 * the API may not import, and a round trip that says whether a value is exactly what its schema describes.
 */
import type { z } from "zod";
import { firstIssue } from "./route.js";

/** `true` when A and B describe the same values: each is assignable to the other (a field more or less, or one
 * optional on one side only, makes it `false`). */
export type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/** Compiles only when its argument is `true`: `assertSame<Same<A, B>>()`. */
export function assertSame<_T extends true>(): void {}

/**
 * Why `value` is not exactly what `schema` describes, or undefined: it must parse, and parsing must neither drop a
 * field (one the schema does not name, which a client would never see) nor add or change one. Used by the agent in
 * tests to check every response it sends.
 */
export function mismatch(schema: z.ZodType, value: unknown): string | undefined {
  const parsed = schema.safeParse(value);
  if (!parsed.success) return firstIssue(parsed.error);
  return difference(JSON.parse(JSON.stringify(value)) as unknown, JSON.parse(JSON.stringify(parsed.data)), "");
}

function difference(sent: unknown, seen: unknown, at: string): string | undefined {
  if (typeof sent !== "object" || sent === null || typeof seen !== "object" || seen === null)
    return Object.is(sent, seen)
      ? undefined
      : `${at || "(value)"}: ${JSON.stringify(sent)} reads as ${JSON.stringify(seen)}`;
  if (Array.isArray(sent) !== Array.isArray(seen)) return `${at || "(value)"}: an array on one side only`;
  const a = sent as Record<string, unknown>;
  const b = seen as Record<string, unknown>;
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const path = at ? `${at}.${key}` : key;
    if (!(key in b)) return `${path}: sent but not in the schema`;
    if (!(key in a)) return `${path}: not sent but added by the schema`;
    const inner = difference(a[key], b[key], path);
    if (inner) return inner;
  }
  return undefined;
}
