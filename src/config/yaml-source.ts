/**
 * Reads YAML text into plain data, turning syntax errors into `FILE:LINE:COL: message` issues. Duplicate keys are
 * errors (Go's yaml.v2, which RKE uses, rejects them as well). YAML 1.1 scalars (`yes`, `on`, `0755`) resolve as
 * they do in yaml.v2, so a cluster.yml means the same thing to Lifeboat as to RKE.
 */
import { LineCounter, parseDocument } from "yaml";
import { ConfigError } from "../util/errors.js";

/** Parses `text` (named `fileName` in messages) and returns its content; an empty file yields `{}`. */
export function parseYamlText(text: string, fileName: string): unknown {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, version: "1.1" });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const pos = e.linePos?.[0] ?? lineCounter.linePos(e.pos[0]);
        return { path: `${fileName}:${pos.line}:${pos.col}`, message: firstLine(e.message) };
      }),
      fileName,
    );
  }
  try {
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    return value ?? {};
  } catch (err) {
    throw new ConfigError([{ path: fileName, message: firstLine((err as Error).message) }], fileName);
  }
}

function firstLine(message: string): string {
  return (message.split("\n")[0] ?? message).replace(/ at line \d+, column \d+:?$/, "").trim();
}
