/**
 * `lifeboat.etcd.quota_backend_bytes`: checked where cluster.yml is read, carried into each managed member's
 * agent.json, and enforced by the real etcd the agent starts (NOSPACE once the backend is full), in both sandbox modes
 * (the external sandbox's supervisor plays the operator who sets the flag on their own etcd).
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, it, test } from "node:test";
import { parseClusterConfig } from "../src/config/cluster.js";
import { ConfigError } from "../src/util/errors.js";
import { runCli } from "./helpers/cli.js";
import { startTestSandbox, type EtcdMode, type TestSandbox } from "./helpers/sandbox.js";

const NODES = "nodes:\n  - address: 10.0.0.1\n    role: [etcd]\n";

function issuesOf(text: string): string[] {
  try {
    parseClusterConfig(text, "cluster.yml");
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  return [];
}

void describe("lifeboat.etcd.quota_backend_bytes in cluster.yml", () => {
  void it("is read as bytes, and is absent unless set", () => {
    const set = parseClusterConfig(`${NODES}lifeboat:\n  etcd: { quota_backend_bytes: 4294967296 }\n`, "c.yml");
    assert.equal(set.config.lifeboat.quotaBackendBytes, 4 * 1024 ** 3);
    assert.equal(parseClusterConfig(NODES, "c.yml").config.lifeboat.quotaBackendBytes, undefined);
  });

  void it("refuses what etcd would not take, naming the key and the range", () => {
    const rule = "must be a whole number of bytes from 1048576 (1 MiB) to 8589934592 (8 GiB)";
    for (const bad of ["0", "1024", "2.5", "9000000000", "lots"]) {
      assert.deepEqual(issuesOf(`${NODES}lifeboat:\n  etcd: { quota_backend_bytes: ${bad} }\n`), [
        `lifeboat.etcd.quota_backend_bytes: ${rule}`,
      ]);
    }
  });

  void it("warns, naming the nodes, where a member runs outside Lifeboat", () => {
    const text =
      "nodes:\n  - address: 10.0.0.1\n    role: [etcd]\n    lifeboat: { etcd: { mode: external, start_command: a, stop_command: b } }\n" +
      "lifeboat:\n  etcd: { quota_backend_bytes: 4294967296 }\n";
    const { warnings } = parseClusterConfig(text, "c.yml");
    assert.ok(
      warnings.some((w) =>
        /^lifeboat\.etcd\.quota_backend_bytes: applies only to members Lifeboat runs.*10\.0\.0\.1/.test(w),
      ),
      warnings.join("\n"),
    );
  });

  void it("the sandbox's flag refuses a bad number before anything starts", async () => {
    const run = await runCli(["sandbox", "up", "--dir", "/nonexistent/never", "--quota-backend-bytes", "12"]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--quota-backend-bytes.*must be a whole number of bytes from 1048576/);
  });
});

const QUOTA = 4 * 1024 * 1024;

for (const mode of ["managed", "external"] as EtcdMode[]) {
  void describe(`a ${mode} sandbox with a 4 MiB quota`, () => {
    let sb: TestSandbox;
    after(() => sb?.down());

    void test("etcd runs with the quota and raises NOSPACE when the backend is full", async () => {
      sb = await startTestSandbox({ nodes: 1, etcdMode: mode, quotaBackendBytes: QUOTA });
      if (mode === "managed") {
        const agentJson = JSON.parse(await readFile(join(sb.info.nodes[0]!.agentDir, "agent.json"), "utf8")) as {
          etcd: { managed?: { quotaBackendBytes?: number } };
        };
        assert.equal(agentJson.etcd.managed?.quotaBackendBytes, QUOTA);
      }
      const pid = Number((await readFile(join(sb.info.nodes[0]!.agentDir, "..", "etcd.pid"), "utf8")).trim());
      const cmdline = (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0");
      assert.ok(cmdline.includes(`--quota-backend-bytes=${QUOTA}`), cmdline.join(" "));
      const etcd = await sb.etcd(0);
      const value = "x".repeat(256 * 1024);
      let refused: unknown;
      for (let i = 0; i < 64 && !refused; i++)
        await etcd.put(`/big/${i}`, value).catch((err: unknown) => (refused = err));
      assert.match(String((refused as Error | undefined)?.message), /database space exceeded/);
      assert.deepEqual(
        (await etcd.alarms()).map((a) => a.alarm),
        ["NOSPACE"],
      );
    });
  });
}
