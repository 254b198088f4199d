/**
 * Finds keys that the schema does not know, so that a typo (`intervalhours`) is reported as a warning with its full
 * key path instead of being ignored silently, as Go's yaml.v2 does for RKE.
 */
import { z } from "zod";

/** Full key paths (`services.etcd.backup_config.foo`) of every key in `value` that `schema` does not declare. */
export function unknownKeys(schema: z.ZodType, value: unknown, path = ""): string[] {
  const s = unwrap(schema);
  if (s instanceof z.ZodObject && isPlainObject(value)) {
    const shape = s.shape as Record<string, z.ZodType>;
    return Object.entries(value).flatMap(([key, child]) => {
      const at = path === "" ? key : `${path}.${key}`;
      const known = Object.hasOwn(shape, key) ? shape[key] : undefined;
      return known ? unknownKeys(known, child, at) : [at];
    });
  }
  if (s instanceof z.ZodArray && Array.isArray(value)) {
    return value.flatMap((item, i) => unknownKeys(s.element as z.ZodType, item, `${path}[${i}]`));
  }
  return [];
}

function unwrap(schema: z.ZodType): z.ZodType {
  let s: z.ZodType = schema;
  for (;;) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodNullable || s instanceof z.ZodDefault)
      s = s.unwrap() as z.ZodType;
    else if (s instanceof z.ZodPipe) s = s.in as z.ZodType;
    else return s;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
