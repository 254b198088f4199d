/**
 * SIGTERM while a snapshot streams (~24 MiB of incompressible data, on the node that also uploads it to S3): the agent
 * must exit 0 promptly, with no AbortError or unhandled error in its log, leave no temp file and nothing that lists
 * as a snapshot (locally or in S3), and record the save as "interrupted". Once for an operator's one-time save (the
 * CLI reports the node failed, naming the interruption) and once for a recurring run (the restarted agent shows it,
 * then its next run succeeds). The agent runs as this test's own child so that its exit code can be checked.
 */
import assert from "node:assert/strict";
import { routes } from "../src/api/routes.js";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { AgentClient } from "../src/agent/client.js";
import { HISTORY_FILE } from "../src/schedule/history.js";
import type { NodeStatus } from "../src/schedule/recurring.js";
import { cliTls } from "../src/fleet/open.js";
import type { SaveReport } from "../src/fleet/save.js";
import type { StatusReport } from "../src/fleet/status.js";
import { statePathFor } from "../src/config/cluster.js";
import { readState } from "../src/config/state.js";
import { isAlive, writeSandbox } from "../src/sandbox/sandbox.js";
import { listCatalog } from "../src/snapshot/catalog.js";
import { BIN, jsonOf } from "./helpers/cli.js";
import { sandboxS3, startTestSandbox, waitFor, type TestSandbox } from "./helpers/sandbox.js";

const DATA_MIB = 24;
const PROMPT_MS = 10_000;

interface AgentProcess {
  pid: number;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

let sb: TestSandbox;
let client: AgentClient;
let agent: AgentProcess | undefined;
const node = () => sb.info.nodes[0]!;
const snapshotDir = () => join(node().agentDir, "..", "snapshots");

/** Runs `lifeboat agent` as a child of this test, recorded in sandbox.json so that the sandbox's teardown knows it. */
async function startAgent(): Promise<AgentProcess> {
  const child = spawn(process.execPath, [BIN, "agent", "--dir", node().agentDir], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  assert.ok(child.pid);
  let text = "";
  const collect = (d: Buffer) => (text += d.toString());
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  node().pid = child.pid;
  await writeSandbox(sb.info);
  return { pid: child.pid, output: () => text, exited };
}

/**
 * Resolves once a save whose name matches `name` (a regular expression) streams into a hidden temp file: the member's
 * spooled snapshot (`.<name>.db.<hex>.part`, src/snapshot/spool.ts) or the archive being written.
 */
async function streaming(name: string): Promise<string> {
  const pattern = new RegExp(`^\\.${name}\\.(db|zip)\\.[0-9a-f]{8}\\.part$`);
  return waitFor(`${name} to stream into its temp file`, async () => {
    for (const file of await readdir(snapshotDir()).catch(() => [] as string[])) {
      if (!pattern.test(file)) continue;
      if ((await stat(join(snapshotDir(), file))).size >= 1 << 20) return file;
    }
    return undefined;
  });
}

/** SIGTERM, then the exit: clean, prompt, and nothing in the log that says an error escaped. */
async function terminate(running: AgentProcess): Promise<void> {
  const sent = Date.now();
  process.kill(running.pid, "SIGTERM");
  const exit = await running.exited;
  const took = Date.now() - sent;
  assert.deepEqual(exit, { code: 0, signal: null }, running.output());
  assert.ok(took < PROMPT_MS, `the agent took ${took} ms to exit`);
  assert.doesNotMatch(running.output(), /AbortError|unhandled|uncaught|internal error/i);
  assert.match(running.output(), /"msg":"agent stopped"/);
}

/** Nothing of `name` anywhere: no temp file, no archive, no manifest, locally or in S3; every listed copy is whole. */
async function nothingLeftOf(name: string): Promise<void> {
  const files = await readdir(snapshotDir());
  assert.deepEqual(
    files.filter((f) => f.startsWith(".") || f.includes(name)),
    [],
    "no temp file and no part of the interrupted snapshot in the snapshot directory",
  );
  const s3 = sandboxS3(sb.info);
  try {
    const keys = (await s3.list("")).map((o) => o.key);
    assert.deepEqual(
      keys.filter((k) => k.includes(name)),
      [],
      "nothing of it in S3",
    );
  } finally {
    await s3.close();
  }
}

async function status(): Promise<NodeStatus> {
  return client.call(routes.status);
}

before(async () => {
  sb = await startTestSandbox({ nodes: 1 });
  const c = await sb.etcd(0);
  for (let i = 0; i < DATA_MIB; i += 8) {
    await Promise.all(Array.from({ length: 8 }, (_, j) => c.put(`/big/${i + j}`, randomBytes(1 << 20))));
  }
  const state = await readState(statePathFor(sb.config));
  assert.ok(state);
  client = new AgentClient({ endpoint: `${node().host}:7443`, tls: cliTls(state) });
  // The sandbox's own agent is detached; this test's child replaces it.
  process.kill(node().pid, "SIGTERM");
  await waitFor("the sandbox's agent to exit", async () => !isAlive(node().pid), 30_000);
  agent = await startAgent();
  await waitFor("the agent", () => client.call(routes.health));
});

after(async () => {
  client?.close();
  if (agent && isAlive(agent.pid)) {
    process.kill(agent.pid, "SIGTERM");
    await agent.exited;
  }
  await sb?.down();
});

test("SIGTERM during a one-time save: the CLI reports the node interrupted, nothing is left, the history says so", async () => {
  const name = "once-interrupted";
  const save = sb.cli(["--output", "json", "etcd", "snapshot-save", "--config", sb.config, "--name", name]);
  await streaming(name);
  await terminate(agent!);

  const run = await save;
  assert.equal(run.code, 1, "every node (the only one) failed: exit 1");
  const report = jsonOf<SaveReport>(run);
  assert.deepEqual(
    report.nodes.map((n) => [n.ok, n.reason]),
    [[false, "interrupted: the agent is stopping"]],
  );
  await nothingLeftOf(name);
  const history = JSON.parse(await readFile(join(node().agentDir, HISTORY_FILE), "utf8")) as { lastFailure?: unknown };
  assert.equal(history.lastFailure, undefined, "an interruption is not a failure");

  agent = await startAgent();
  await waitFor("the restarted agent", () => client.call(routes.health));
  const json = await sb.cli(["--output", "json", "etcd", "snapshot-status", "--config", sb.config]);
  assert.equal(json.code, 0, json.stderr);
  const shown = jsonOf<StatusReport>(json).nodes[0] as NodeStatus;
  assert.deepEqual(
    [shown.lastRun?.name, shown.lastRun?.kind, shown.lastRun?.result, shown.lastRun?.reason, shown.lastFailure],
    [name, "one-time", "interrupted", "the agent is stopping", null],
  );
  const text = await sb.cli(["etcd", "snapshot-status", "--config", sb.config]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /LAST RUN/);
  assert.match(text.stdout, new RegExp(`${name}: interrupted \\(the agent is stopping\\)`));
});

test("SIGTERM during a recurring save: clean exit, nothing left, interrupted after the restart, the next run succeeds", async () => {
  const push = await sb.cli(["etcd", "schedule", "push", "--interval", "5s", "--jitter", "0s", "--config", sb.config]);
  assert.equal(push.code, 0, push.stderr);
  const part = await streaming(String.raw`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z_etcd`);
  const name = part.slice(1).replace(/\.(db|zip)\.[0-9a-f]{8}\.part$/, "");
  await terminate(agent!);
  await nothingLeftOf(name);

  // The restarted agent serves its status before its member is up, so before any new run can have ended.
  agent = await startAgent();
  const first = await waitFor("the restarted agent's status", status);
  assert.deepEqual(
    [first.lastRun?.name, first.lastRun?.kind, first.lastRun?.result, first.lastRun?.reason, first.lastFailure],
    [name, "recurring", "interrupted", "the agent is stopping", null],
  );

  const next = await waitFor("the next recurring run to succeed", async () => {
    const s = await status();
    return s.lastRun?.kind === "recurring" && s.lastRun.result === "success" ? s.lastRun : undefined;
  });
  assert.notEqual(next.name, name);
  const copies = (await client.call(routes.listSnapshots)).snapshots;
  assert.ok(copies.some((c) => c.name === next.name && c.status === "ok"));
  assert.ok(
    copies.every((c) => c.status === "ok"),
    copies.map((c) => `${c.name} ${c.status}`).join(", "),
  );
  assert.ok(!copies.some((c) => c.name === name));
  const s3 = sandboxS3(sb.info);
  try {
    assert.ok(
      (await listCatalog(s3, "s3")).some((e) => e.name === next.name && e.status === "ok"),
      "uploaded",
    );
  } finally {
    await s3.close();
  }
});
