/**
 * What the sandbox tests do as an operator would: edit cluster.yml, run `lifeboat … --config` and read
 * `snapshot-status`, and a loopback webhook receiver that keeps every event it was posted.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { readFile, writeFile } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import type { StatusReport } from "../../src/fleet/status.js";
import type { NotifyEvent } from "../../src/telemetry/notify.js";
import { allocateLoopbackHosts } from "../../src/util/net.js";
import { jsonOf, type CliRun } from "./cli.js";
import type { TestSandbox } from "./sandbox.js";

/** cluster.yml as the tests edit it: top-level sections of sections. */
export type ConfigDoc = Record<string, Record<string, Record<string, unknown>>>;

export function operatorOf(sb: () => TestSandbox) {
  const lifeboat = (args: string[]) => sb().cli([...args, "--config", sb().config]);
  return {
    lifeboat,
    editConfig: async (edit: (doc: ConfigDoc) => void): Promise<void> => {
      const doc = parseYaml(await readFile(sb().config, "utf8")) as ConfigDoc;
      edit(doc);
      await writeFile(sb().config, stringifyYaml(doc), { mode: 0o600 });
    },
    /** Runs the command and fails the test, with its output, unless it exits 0. */
    ok: async (args: string[]): Promise<CliRun> => {
      const run = await lifeboat(args);
      assert.equal(run.code, 0, `lifeboat ${args.join(" ")} exited ${run.code}:\n${run.stdout}\n${run.stderr}`);
      return run;
    },
    /** `snapshot-status --output json`: its exit code, its report, and the run for failure messages. */
    status: async () => {
      const run = await lifeboat(["--output", "json", "etcd", "snapshot-status"]);
      return { code: run.code, report: jsonOf<StatusReport>(run), run };
    },
  };
}

/** A webhook on a loopback address of its own: every JSON event posted to it, with its headers. */
export interface HookServer {
  url: string;
  received: { headers: IncomingHttpHeaders; body: NotifyEvent }[];
  close(): void;
}

export async function startHookServer(port: number): Promise<HookServer> {
  const [host] = await allocateLoopbackHosts(1, [port]);
  const received: HookServer["received"] = [];
  const server: Server = createServer((req, res) => {
    let text = "";
    req.on("data", (d: Buffer) => (text += d.toString()));
    req.on("end", () => {
      received.push({ headers: req.headers, body: JSON.parse(text) as NotifyEvent });
      res.writeHead(204).end();
    });
  });
  server.listen(port, host);
  await once(server, "listening");
  return {
    url: `http://${host}:${port}/hook`,
    received,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}
