/**
 * Reads YAML text into plain data, turning syntax errors into `FILE:LINE:COL: message` issues. Duplicate keys are
 * errors (Go's yaml.v2, which RKE uses, rejects them as well). YAML 1.1 scalars (`yes`, `on`, `0755`) resolve as
 * they do in yaml.v2, so a cluster.yml means the same thing to Lifeboat as to RKE.
 *
 * Every step is linear in the size of the text: the size is capped, duplicate keys are found with one set per
 * mapping (the yaml library's own `uniqueKeys` check scans every earlier key for each key, which took minutes on a
 * mapping of 100,000 keys), and aliases may not expand a document beyond `MAX_ALIAS_COUNT` (a "billion laughs").
 */
import { isMap, isScalar, LineCounter, parseDocument, visit, type Document, type YAMLError } from "yaml";
import { ConfigError } from "../util/errors.js";

/** The largest cluster.yml accepted: RKE's files are a few KiB; a bigger one is a mistake or an attack. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** The yaml library's bound on alias expansion (each alias counts the nodes it repeats). */
const MAX_ALIAS_COUNT = 100;

interface Problem {
  offset: number;
  message: string;
}

/** Parses `text` (named `fileName` in messages) and returns its content; an empty file yields `{}`. */
export function parseYamlText(text: string, fileName: string): unknown {
  const size = Buffer.byteLength(text, "utf8");
  if (size > MAX_CONFIG_BYTES) throw configTooLarge(fileName, size);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false, version: "1.1" });
  const problems = [...doc.errors.map(syntaxProblem), ...duplicateKeys(doc)].sort((a, b) => a.offset - b.offset);
  if (problems.length > 0) {
    const issues = problems.map((p) => {
      const pos = lineCounter.linePos(p.offset);
      return { path: `${fileName}:${pos.line}:${pos.col}`, message: p.message };
    });
    throw new ConfigError(issues, fileName);
  }
  try {
    const value: unknown = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    return value ?? {};
  } catch (err) {
    throw new ConfigError([{ path: fileName, message: firstLine((err as Error).message) }], fileName);
  }
}

/** The refusal of a file over `MAX_CONFIG_BYTES`, before it is parsed (or read whole). */
export function configTooLarge(fileName: string, size?: number): ConfigError {
  const actual = size === undefined ? "larger than" : `${size} bytes, over`;
  const message = `the file is ${actual} the limit of ${MAX_CONFIG_BYTES} bytes (1 MiB) for a cluster.yml`;
  return new ConfigError([{ path: fileName, message }], fileName);
}

function syntaxProblem(e: YAMLError): Problem {
  return { offset: e.pos[0], message: firstLine(e.message) };
}

/** Keys repeated within one mapping, compared as the yaml library compares them (scalars by value). */
function duplicateKeys(doc: Document): Problem[] {
  const problems: Problem[] = [];
  visit(doc, {
    Map(_, map) {
      if (!isMap(map)) return;
      const seen = new Set<unknown>();
      for (const { key } of map.items) {
        // NaN is never equal to itself, so the yaml library never reports it as a duplicate either.
        if (!isScalar(key) || Number.isNaN(key.value)) continue;
        if (seen.has(key.value)) problems.push({ offset: key.range?.[0] ?? 0, message: "Map keys must be unique" });
        seen.add(key.value);
      }
    },
  });
  return problems;
}

function firstLine(message: string): string {
  return (message.split("\n")[0] ?? message).replace(/ at line \d+, column \d+:?$/, "").trim();
}
