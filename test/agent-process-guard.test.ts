/**
 * The agent's process-level safety net, in a child process of its own: an unhandled rejection is logged and the
 * process goes on (a dropped promise must not kill a save halfway); an uncaught exception is logged, the agent is
 * stopped as on SIGTERM (so running saves still clean up), and the process exits 1.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";

const AGENT = new URL("../src/cli/agent.js", import.meta.url).href;
const LOG = new URL("../src/util/log.js", import.meta.url).href;

function runGuarded(body: string): Promise<{ code: number | null; out: string }> {
  const script = `
    import { guardProcess } from ${JSON.stringify(AGENT)};
    import { createLogger } from ${JSON.stringify(LOG)};
    const log = createLogger({ out: process.stdout });
    const agent = { stop: async () => console.log("agent stopped") };
    guardProcess(log, { agent });
    ${body}`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out }));
  });
}

test("an unhandled rejection is logged and the agent keeps running", async () => {
  const run = await runGuarded(`
    void Promise.reject(new Error("a dropped promise"));
    setTimeout(() => console.log("still running"), 200);`);
  assert.equal(run.code, 0, run.out);
  assert.match(
    run.out,
    /"level":"error","msg":"unhandled promise rejection \(a bug\); the agent keeps running","error":"a dropped promise"/,
  );
  assert.match(run.out, /still running/);
  assert.doesNotMatch(run.out, /agent stopped/);
});

test("an uncaught exception is logged, the agent is stopped, and the process exits 1", async () => {
  const run = await runGuarded(`
    setInterval(() => undefined, 1000);
    setTimeout(() => { throw new Error("thrown in a callback"); }, 10);`);
  assert.equal(run.code, 1, run.out);
  assert.match(run.out, /"msg":"uncaught exception \(a bug\); the agent stops","error":"thrown in a callback"/);
  assert.match(run.out, /agent stopped/);
});
