/**
 * The pure parts of `lifeboat agent install` (src/install): the layout under a root, what differs by sha256, what a
 * node's outcome is called, the parsers of what nodes print, which etcd tools serve a member, and the systemd unit,
 * checked by `systemd-analyze verify` where it exists.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { access, chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { installLayout, systemdUnit } from "../src/install/index.js";
import { listeningSockets, sameOrWildcard } from "../src/remote/checks.js";
import {
  outcomeOf,
  parseNodeTools,
  parseSha256sum,
  planFiles,
  usableTools,
  type WantedFile,
} from "../src/install/plan.js";

const run = promisify(execFile);
const SYSTEMD_ANALYZE = "/usr/bin/systemd-analyze";

function file(path: string, sha: string, group: WantedFile["group"] = "agent folder"): WantedFile {
  return { path, mode: 0o600, group, sha256: sha.repeat(64).slice(0, 64), size: 10, source: Buffer.from("x") };
}

void describe("install plan", () => {
  void it("lays every installed path under the root", () => {
    const layout = installLayout("/srv/node1");
    assert.equal(layout.program, "/srv/node1/opt/lifeboat/bin/lifeboat");
    assert.equal(layout.toolsDir, "/srv/node1/opt/lifeboat/bin/etcd-tools");
    assert.equal(layout.agentDir, "/srv/node1/etc/lifeboat/agent");
    assert.equal(layout.unit, "/srv/node1/etc/systemd/system/lifeboat-agent.service");
    assert.equal(layout.pidFile, "/srv/node1/var/lib/lifeboat/agent.pid");
    assert.equal(installLayout("/").program, "/opt/lifeboat/bin/lifeboat");
  });

  void it("uploads only what differs, and names the outcome by what changed", () => {
    const wanted = [file("/p", "a", "program"), file("/d/agent.json", "b"), file("/d/ca.pem", "c")];
    const sha = (c: string) => c.repeat(64);
    const same = new Map([
      ["/p", sha("a")],
      ["/d/agent.json", sha("b")],
      ["/d/ca.pem", sha("c")],
    ]);
    assert.deepEqual(planFiles(wanted, same), []);
    assert.equal(outcomeOf({ wasInstalled: true, wasRunning: true, changes: [] }), "up to date");
    assert.equal(outcomeOf({ wasInstalled: true, wasRunning: false, changes: [] }), "started");

    const program = planFiles(wanted, new Map([...same, ["/p", sha("0")]]));
    assert.deepEqual(
      program.map((c) => [c.file.path, c.action]),
      [["/p", "replace"]],
    );
    assert.equal(outcomeOf({ wasInstalled: true, wasRunning: true, changes: program }), "upgraded: program");

    const fresh = planFiles(wanted, new Map());
    assert.deepEqual(
      fresh.map((c) => c.action),
      ["add", "add", "add"],
    );
    assert.equal(outcomeOf({ wasInstalled: false, wasRunning: false, changes: fresh }), "installed");
    const both = planFiles(wanted, new Map([["/p", sha("0")]]));
    assert.equal(outcomeOf({ wasInstalled: true, wasRunning: true, changes: both }), "upgraded: program, agent folder");
  });

  void it("reads sha256sum's output, escaped names included", () => {
    const a = "a".repeat(64);
    const b = "b".repeat(64);
    const parsed = parseSha256sum(
      `${a}  /opt/lifeboat/bin/lifeboat\n\\${b}  /etc/x\\ny\nsha256sum: /missing: No such file\n`,
    );
    assert.deepEqual(
      [...parsed],
      [
        ["/opt/lifeboat/bin/lifeboat", a],
        ["/etc/x\\ny", b],
      ],
    );
  });

  void it("takes etcd tools of the member's release line only, with etcdutl from 3.5 on", () => {
    const found = parseNodeTools("/usr/bin 3.4.30\n/opt/etcd 3.5.21\n/usr/local/bin 3.5.30 etcdutl\njunk\n");
    assert.deepEqual(found, [
      { dir: "/usr/bin", version: "3.4.30", etcdutl: false },
      { dir: "/opt/etcd", version: "3.5.21", etcdutl: false },
      { dir: "/usr/local/bin", version: "3.5.30", etcdutl: true },
    ]);
    assert.equal(usableTools(found, "3.5.16")?.dir, "/usr/local/bin");
    assert.equal(usableTools(found, "3.4.27")?.dir, "/usr/bin");
    assert.equal(usableTools(found, "3.6.0"), undefined);
    assert.equal(usableTools(found, undefined)?.dir, "/usr/bin");
  });

  void it("counts a listener against the agent's address only on that address or a wildcard one", () => {
    const proc = [
      "  sl  local_address rem_address   st",
      "   0: E9AB967F:1D13 00000000:0000 0A",
      "   1: 00000000:0016 00000000:0000 0A",
      "   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A",
      "   1: 0000000000000000FFFF0000EAAB967F:1D14 00000000000000000000000000000000:0000 0A",
    ].join("\n");
    const [own, any, any6, mapped] = listeningSockets(proc);
    assert.deepEqual(own, { address: "127.150.171.233", port: 7443 });
    assert.equal(sameOrWildcard(own.address, "127.150.171.233"), true);
    assert.equal(sameOrWildcard(own.address, "127.150.171.234"), false);
    assert.equal(sameOrWildcard(any!.address, "10.0.0.1"), true);
    assert.equal(sameOrWildcard(any6!.address, "10.0.0.1"), true);
    assert.equal(sameOrWildcard(any6!.address, "::1"), true);
    assert.equal(sameOrWildcard(mapped!.address, "127.150.171.234"), true);
    assert.equal(sameOrWildcard(mapped!.address, "127.150.171.233"), false);
  });

  void it("writes a systemd unit that systemd-analyze verify accepts", async (t) => {
    const unit = systemdUnit(installLayout("/"));
    for (const line of [
      "Environment=MALLOC_MMAP_THRESHOLD_=131072",
      "ExecStart=/opt/lifeboat/bin/lifeboat agent --dir /etc/lifeboat/agent",
      "Restart=always",
      "User=root",
      "NoNewPrivileges=yes",
      "ProtectSystem=full",
      "ReadWritePaths=/etc/lifeboat/agent",
      "WantedBy=multi-user.target",
    ]) {
      assert.ok(unit.split("\n").includes(line), `the unit has ${line}`);
    }
    if (
      !(await access(SYSTEMD_ANALYZE).then(
        () => true,
        () => false,
      ))
    ) {
      t.diagnostic(`${SYSTEMD_ANALYZE} is missing: the unit's text is checked, not verified`);
      return;
    }
    // Under a root of its own, so that the program it names exists.
    const root = await mkdtemp(join(tmpdir(), "lifeboat-unit-"));
    try {
      const layout = installLayout(root);
      await mkdir(layout.binDir, { recursive: true });
      await mkdir(layout.agentDir, { recursive: true });
      await writeFile(layout.program, "#!/bin/sh\n");
      await chmod(layout.program, 0o755);
      const path = join(root, "lifeboat-agent.service");
      await writeFile(path, systemdUnit(layout));
      const verified = await run(SYSTEMD_ANALYZE, ["verify", "--man=no", path]).catch(
        (err: { code: number; stderr: string }) => err,
      );
      assert.equal("code" in verified ? verified.code : 0, 0, verified.stderr);
      // It exits 0 for a setting it ignores, but says so on stderr.
      assert.equal(verified.stderr.trim(), "");

      await writeFile(path, systemdUnit(layout).replace("ProtectSystem=full", "ProtectSystem=fulll"));
      const broken = await run(SYSTEMD_ANALYZE, ["verify", "--man=no", path]).catch((err: { stderr: string }) => err);
      assert.match(broken.stderr, /ProtectSystem|protect system/i, "verify reports a bad line");
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
