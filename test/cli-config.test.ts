/**
 * The CLI's edge, run as the real binary: a broken cluster.yml stops every command with exit 2, the line and
 * column or the key path, and no file written; every command's --help works and lists the exit codes; unknown
 * flags and commands exit 2.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { runCli } from "./helpers/cli.js";

const COMMANDS_READING_CONFIG = [
  ["etcd", "snapshot-save", "--name", "never-taken"],
  ["etcd", "snapshot-list"],
  ["etcd", "health"],
];

void describe("cli: invalid cluster.yml", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "lifeboat-cli-config-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs each command on `yml` and checks exit 2, the expected error lines, and that nothing was written. */
  async function expectRefused(file: string, yml: string, expected: RegExp[]): Promise<void> {
    const path = join(dir, file);
    await writeFile(path, yml);
    const before = (await readdir(dir)).sort();
    const runs = await Promise.all(COMMANDS_READING_CONFIG.map((command) => runCli([...command, "--config", path])));
    runs.forEach((run, i) => {
      const command = COMMANDS_READING_CONFIG[i]!.join(" ");
      assert.equal(run.code, 2, `${command}: ${run.stderr}`);
      for (const e of expected) assert.match(run.stderr, e, command);
      assert.equal(run.stdout, "");
    });
    assert.deepEqual((await readdir(dir)).sort(), before, "no state file or anything else was written");
  }

  void test("a YAML syntax error gives the file, line and column", async () => {
    const yml = [
      "nodes:",
      "  - address: 127.0.0.1",
      "    role: [etcd]",
      "services:",
      "  etcd:",
      "    snapshot: true",
      "    snapshot: false",
      "",
    ];
    await expectRefused("duplicate.yml", yml.join("\n"), [
      /^error: \/\S+\/duplicate\.yml:7:5: Map keys must be unique$/m,
    ]);
    const unclosed = ["nodes:", "  - address: 127.0.0.1", "    role: [etcd, worker", "services: {}", ""];
    await expectRefused("unclosed.yml", unclosed.join("\n"), [
      /^error: \/\S+\/unclosed\.yml:\d+:\d+: Flow sequence .* end with a \]$/m,
    ]);
  });

  void test("a missing bucket_name names the key path", async () => {
    const yml = [
      "nodes:",
      "  - address: 127.0.0.1",
      "    role: [etcd]",
      "services:",
      "  etcd:",
      "    backup_config:",
      "      s3backupconfig:",
      "        access_key: a-key",
      "        secret_key: a-secret",
      "        endpoint: http://127.0.0.9:9000",
      "",
    ];
    await expectRefused("no-bucket.yml", yml.join("\n"), [
      /^error: services\.etcd\.backup_config\.s3backupconfig\.bucket_name: required when s3backupconfig is set$/m,
    ]);
  });

  void test("a wrong value names its key path too, and every problem is listed", async () => {
    const yml = [
      "nodes:",
      "  - address: 127.0.0.1",
      "    role: [etcd]",
      "services:",
      "  etcd:",
      "    backup_config:",
      "      interval_hours: -3",
      "      s3backupconfig:",
      "        endpoint: http://127.0.0.9:9000",
      "",
    ];
    await expectRefused("bad-values.yml", yml.join("\n"), [
      /^error: services\.etcd\.backup_config\.interval_hours: /m,
      /^services\.etcd\.backup_config\.s3backupconfig\.bucket_name: required/m,
    ]);
  });

  void test("a missing config file exits 2 and says which file", async () => {
    const run = await runCli(["etcd", "health", "--config", join(dir, "absent.yml")]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^error: cannot read \/\S+\/absent\.yml: ENOENT/m);
  });
});

void describe("cli: help and unknown flags", () => {
  /** The subcommand names listed under "Commands:" in a help page (help itself excluded). */
  function subcommands(help: string): string[] {
    const section = help.split(/^Commands:$/m)[1]?.split(/^\S/m)[0] ?? "";
    return [...section.matchAll(/^ {2}([a-z][\w-]*)/gm)].map((m) => m[1]!).filter((c) => c !== "help");
  }

  void test("--help works on every command, recursively, and shows the exit codes", async () => {
    const seen: string[] = [];
    const walk = async (path: string[]): Promise<void> => {
      const run = await runCli([...path, "--help"]);
      const where = `lifeboat ${path.join(" ")} --help`;
      assert.equal(run.code, 0, `${where}: ${run.stderr}`);
      assert.match(run.stdout, new RegExp(`^Usage: lifeboat${path.map((p) => ` ${p}`).join("")} `), where);
      assert.match(run.stdout, /^Exit status:$/m, where);
      for (const code of [0, 1, 2, 3, 4])
        assert.match(run.stdout, new RegExp(`^ {2}${code} {2}\\S`, "m"), `${where}: exit ${code}`);
      assert.equal(run.stdout.split("Exit status:").length, 2, `${where}: the exit codes once`);
      seen.push(path.join(" "));
      await Promise.all(subcommands(run.stdout).map((sub) => walk([...path, sub])));
    };
    await walk([]);
    for (const expected of [
      "etcd",
      "etcd snapshot-save",
      "etcd snapshot-list",
      "etcd health",
      "agent",
      "cert node",
      "sandbox up",
      "sandbox status",
      "sandbox down",
    ]) {
      assert.ok(seen.includes(expected), `walked ${expected} (walked: ${seen.join(", ")})`);
    }
  });

  void test("snapshot-save's help lists RKE's flags", async () => {
    const run = await runCli(["etcd", "snapshot-save", "--help"]);
    for (const flag of [
      "--config",
      "--name",
      "--s3",
      "--access-key",
      "--secret-key",
      "--bucket-name",
      "--region",
      "--s3-endpoint",
      "--s3-endpoint-ca",
      "--folder",
    ]) {
      assert.match(run.stdout, new RegExp(`${flag}\\b`), flag);
    }
  });

  void test("an unknown flag or command exits 2 and names it", async () => {
    const cases: [string[], RegExp][] = [
      [["--bogus"], /unknown option '--bogus'/],
      [["etcd", "health", "--bogus"], /unknown option '--bogus'/],
      [["etcd", "snapshot-save", "--nmae", "x"], /unknown option '--nmae'/],
      [["sandbox", "up", "--node", "3"], /unknown option '--node'/],
      [["etcd", "no-such-command"], /unknown command 'no-such-command'/],
      [["--output", "yaml", "etcd", "health"], /argument 'yaml' is invalid/],
    ];
    const runs = await Promise.all(cases.map(([args]) => runCli(args)));
    runs.forEach((run, i) => {
      const [args, message] = cases[i]!;
      assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
      assert.match(run.stderr, message);
    });
  });

  void test("a restore refuses, before touching anything, an external member without start and stop commands", async () => {
    const own = await mkdtemp(join(tmpdir(), "lifeboat-cli-external-"));
    after(() => rm(own, { recursive: true, force: true }));
    const path = join(own, "external.yml");
    const yml = ["nodes:", "  - address: 127.0.0.1", "    role: [etcd]", "    lifeboat: { agent: 127.0.0.1:1 }", ""];
    await writeFile(path, yml.join("\n"));
    const run = await runCli(["etcd", "snapshot-restore", "--config", path, "--name", "snap", "--yes"]);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /nodes\[0\]\.lifeboat\.etcd: start_command and stop_command are required to restore/);
    assert.doesNotMatch(run.stderr, /\[restore\]|cannot reach agent/, "refused before any agent was asked");
  });
});
