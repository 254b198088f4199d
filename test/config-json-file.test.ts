/** The one reader of Lifeboat's JSON files, and the files read through it (agent.json, schedule.json). */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { z } from "zod";
import { loadAgentConfig } from "../src/agent/config.js";
import { readJsonFile } from "../src/config/json-file.js";
import { readScheduleDocument } from "../src/schedule/document.js";
import { ConfigError } from "../src/util/errors.js";

const Schema = z.object({ names: z.array(z.string()), size: z.number().default(1) });

/** The issues of the ConfigError that `promise` rejects with, after checking it names `file`. */
async function issuesOf(promise: Promise<unknown>, file: string): Promise<string[]> {
  const err = await promise.then(
    () => assert.fail("expected a ConfigError"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ConfigError, String(err));
  assert.equal(err.file, file);
  return err.issues.map((i) => `${i.path}: ${i.message}`);
}

void describe("readJsonFile", () => {
  const dirs: string[] = [];
  after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
  const folder = async () => {
    const dir = await mkdtemp(join(tmpdir(), "lifeboat-json-"));
    dirs.push(dir);
    return dir;
  };

  void it("returns the schema's output, undefined for a missing file", async () => {
    const dir = await folder();
    await writeFile(join(dir, "ok.json"), '{"names":["a"]}');
    assert.deepEqual(await readJsonFile(join(dir, "ok.json"), Schema), { names: ["a"], size: 1 });
    assert.equal(await readJsonFile(join(dir, "absent.json"), Schema), undefined);
  });

  void it("names the file for text that is not JSON or cannot be read, and each bad key", async () => {
    const dir = await folder();
    const [bad, wrong, folderPath] = ["bad.json", "wrong.json", "dir.json"].map((f) => join(dir, f)) as [
      string,
      string,
      string,
    ];
    await writeFile(bad, "{names:");
    await writeFile(wrong, '{"names":["a",2]}');
    await mkdir(folderPath);
    const [notJson] = await issuesOf(readJsonFile(bad, Schema), bad);
    assert.match(notJson ?? "", new RegExp(`^: ${bad}: not valid JSON \\(`));
    assert.deepEqual(await issuesOf(readJsonFile(wrong, Schema), wrong), [
      "names[1]: must be a string (found a number)",
    ]);
    const [unreadable] = await issuesOf(readJsonFile(folderPath, Schema), folderPath);
    assert.match(unreadable ?? "", /^: cannot read .*dir\.json: EISDIR/);
  });

  void it("reads agent.json and schedule.json the same way", async () => {
    const dir = await folder();
    const agentJson = join(dir, "agent.json");
    assert.deepEqual(await issuesOf(loadAgentConfig(dir), agentJson), [`: cannot read ${agentJson}: no such file`]);
    await writeFile(agentJson, JSON.stringify({ node: "n1", postRestore: [7] }));
    const issues = await issuesOf(loadAgentConfig(dir), agentJson);
    assert.ok(issues.includes("postRestore[0]: must be a string (found a number)"), issues.join("\n"));
    await writeFile(join(dir, "schedule.json"), "not json");
    const [schedule] = await issuesOf(readScheduleDocument(dir), join(dir, "schedule.json"));
    assert.match(schedule ?? "", /schedule\.json: not valid JSON/);
  });
});
