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
import { buildProgram, logLevelOf, type GlobalOptions } from "../src/cli/main.js";
import { createOutput } from "../src/cli/output.js";
import { createLogger } from "../src/util/log.js";
import { allocateLoopbackHosts } from "../src/util/net.js";
import { jsonOf, runCli } from "./helpers/cli.js";

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

  void test("a 5 MB file of 200,000 keys is refused before it is parsed: exit 2, the file and the limit", async () => {
    const keys = Array.from({ length: 200_000 }, (_, i) => `unknown_key_number_${i}: value-${i}\n`);
    const yml = ["nodes:", "  - address: 127.0.0.1", "    role: [etcd]", "", ...keys].join("\n");
    assert.ok(yml.length > 5_000_000);
    await expectRefused("huge.yml", yml, [
      /^error: \/\S+\/huge\.yml: the file is \d+ bytes, over the limit of 1048576 bytes \(1 MiB\) for a cluster\.yml$/m,
    ]);
  });

  void test("aliases that would expand without bound (billion laughs) are refused: exit 2", async () => {
    const names = "abcdefghi";
    const levels = [`${names[0]}: &${names[0]} [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]`];
    for (let i = 1; i < names.length; i++) {
      levels.push(
        `${names[i]}: &${names[i]} [${Array(10)
          .fill(`*${names[i - 1]}`)
          .join(", ")}]`,
      );
    }
    const yml = ["nodes:", "  - address: 127.0.0.1", "    role: [etcd]", ...levels, ""].join("\n");
    await expectRefused("laughs.yml", yml, [/^error: \/\S+\/laughs\.yml: Excessive alias count/m]);
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

  void test("an unknown command is answered by meaning, and never with a command that stops members", async () => {
    const cases: [string[], string | undefined][] = [
      [["etcd", "snapshot-remove"], "snapshot-delete"],
      [["etcd", "snapshot-rm"], "snapshot-delete"],
      [["etcd", "remove"], "snapshot-delete"],
      [["etcd", "snapshot-sav"], "snapshot-save"],
      [["etcd", "snapshot-restor"], undefined],
      [["etcd", "snapshot-restroe"], undefined],
      [["sandbox", "dwn"], undefined],
    ];
    const runs = await Promise.all(cases.map(([args]) => runCli(args)));
    runs.forEach((run, i) => {
      const [args, suggested] = cases[i]!;
      const where = `lifeboat ${args.join(" ")}`;
      assert.equal(run.code, 2, `${where}: ${run.stderr}`);
      assert.match(run.stderr, new RegExp(`^error: unknown command '${args.at(-1)}'$`, "m"), where);
      const hints = run.stderr.match(/^\(Did you mean .*\)$/gm) ?? [];
      assert.deepEqual(hints, suggested ? [`(Did you mean ${suggested}?)`] : [], where);
      assert.doesNotMatch(run.stderr, /Did you mean.*(restore|down)/, where);
    });
  });

  void test("health of a node whose agent is not listening: the node, its agent and the cause, each once", async () => {
    const own = await mkdtemp(join(tmpdir(), "lifeboat-cli-health-"));
    after(() => rm(own, { recursive: true, force: true }));
    const [host] = await allocateLoopbackHosts(1, [7443]);
    const path = join(own, "cluster.yml");
    await writeFile(
      path,
      `nodes:\n  - address: 127.0.0.1\n    role: [etcd]\n    lifeboat: { agent: "${host}:7443" }\n`,
    );
    assert.equal((await runCli(["cert", "init", "--config", path])).code, 0);
    const json = await runCli(["--output", "json", "etcd", "health", "--config", path]);
    assert.equal(json.code, 1, json.stderr);
    const { nodes } = jsonOf<{ nodes: { node: string; reason?: string }[] }>(json);
    assert.deepEqual(
      nodes.map((n) => [n.node, n.reason]),
      [["etcd-127.0.0.1", `agent: cannot reach agent ${host}:7443: ECONNREFUSED`]],
    );
    const text = await runCli(["etcd", "health", "--config", path]);
    const row = text.stdout.split("\n").find((l) => l.startsWith("etcd-127.0.0.1 "));
    assert.match(row ?? "", /UNHEALTHY .*agent: cannot reach agent \S+:7443: ECONNREFUSED$/);
    assert.equal(row?.split("ECONNREFUSED").length, 2, `the cause once: ${row}`);
  });

  void test("a restore refuses, before touching anything, an external member without start and stop commands", async () => {
    const own = await mkdtemp(join(tmpdir(), "lifeboat-cli-external-"));
    after(() => rm(own, { recursive: true, force: true }));
    const path = join(own, "external.yml");
    const yml = ["nodes:", "  - address: 127.0.0.1", "    role: [etcd]", "    lifeboat: { agent: 127.0.0.1:1 }", ""];
    await writeFile(path, yml.join("\n"));
    assert.equal((await runCli(["cert", "init", "--config", path])).code, 0);
    const run = await runCli(["etcd", "snapshot-restore", "--config", path, "--name", "snap", "--yes"]);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /nodes\[0\]\.lifeboat\.etcd: start_command and stop_command are required to restore/);
    assert.doesNotMatch(run.stderr, /\[restore\]|cannot reach agent/, "refused before any agent was asked");
  });
});

void describe("cli: RKE's global flags", () => {
  let dir: string;
  let config: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "lifeboat-cli-rke-flags-"));
    config = join(dir, "cluster.yml");
    const [host] = await allocateLoopbackHosts(1, [7443]);
    await writeFile(
      config,
      `nodes:\n  - address: 127.0.0.1\n    role: [etcd]\n    lifeboat: { agent: "${host}:7443" }\n`,
    );
    assert.equal((await runCli(["cert", "init", "--config", config])).code, 0);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const UNUSED = ["--ignore-docker-version", "--dind", "--cert-dir", "--custom-certs"];
  const notes = (stderr: string) => stderr.split("\n").filter((l) => / changes nothing in Lifeboat/.test(l));

  void test("accepted before or after the command, where RKE users type them; each unused one noted once", async () => {
    const after = await runCli([
      ...["-o", "json", "etcd", "health", "--config", config, "--ssh-agent-auth", "--ignore-docker-version"],
      ...["--dind", "--cert-dir", "/etc/kubernetes/ssl", "--custom-certs", "--dind", "--trace", "--quiet"],
    ]);
    assert.equal(after.code, 1, `the command itself ran (its agent is down): ${after.stderr}`);
    assert.ok(jsonOf<{ nodes: unknown[] }>(after).nodes.length === 1);
    assert.deepEqual(notes(after.stderr), [], "--quiet silences the notes");
    const before = await runCli(
      [...UNUSED.flatMap((f) => (f === "--cert-dir" ? [f, "/x"] : [f])), "--dind"].concat([
        "etcd",
        "health",
        "--config",
        config,
      ]),
    );
    assert.equal(before.code, 1, before.stderr);
    assert.deepEqual(
      notes(before.stderr),
      UNUSED.map((f) => `note: ${f} changes nothing in Lifeboat (accepted so that RKE's command lines keep working)`),
    );
    const quiet = await runCli(["-q", "--dind", "etcd", "health", "--config", config]);
    assert.deepEqual(notes(quiet.stderr), []);
  });

  void test("--trace logs at debug level, as --debug does; the help says what each flag does here", async () => {
    let globals: GlobalOptions | undefined;
    const program = buildProgram((g) => {
      globals = g;
      throw new Error("stop here");
    });
    await assert.rejects(
      program.parseAsync(["etcd", "health", "-c", config, "--trace"], { from: "user" }),
      /stop here/,
    );
    assert.equal(globals?.trace, true);
    assert.equal(logLevelOf(globals ?? { debug: false, trace: false }), "debug");
    assert.equal(logLevelOf({ debug: true, trace: false }), "debug");
    assert.equal(logLevelOf({ debug: false, trace: false }), "warn");
    const help = await runCli(["--help"]);
    assert.match(help.stdout, /--trace +RKE's most verbose logging: the same as --debug here/);
    assert.match(help.stdout, /--ssh-agent-auth +log in to nodes over SSH with the SSH agent/);
    for (const flag of UNUSED)
      assert.match(help.stdout, new RegExp(`${flag}( <dir>)? +accepted for RKE's command lines`));
  });

  void test("--ssh-agent-auth reaches every command's deps (connectNode's sshAgentAuth)", async () => {
    const seen: { global?: boolean; deps?: boolean } = {};
    const refuse = new Error("stop here");
    const program = buildProgram((g) => {
      seen.global = g.sshAgentAuth;
      const deps = {
        out: createOutput("text", { write: () => true }, { write: () => true }),
        log: createLogger({ out: { write: () => true } }),
        clock: () => new Date(),
        setExitCode: () => {},
        openFleet: () => Promise.reject(refuse),
        openStore: () => {
          throw refuse;
        },
        sleep: async () => {},
        confirm: async () => {},
        sshAgentAuth: g.sshAgentAuth,
      };
      seen.deps = deps.sshAgentAuth;
      return deps;
    });
    await assert.rejects(
      program.parseAsync(["etcd", "health", "-c", config, "--ssh-agent-auth"], { from: "user" }),
      refuse,
    );
    assert.deepEqual(seen, { global: true, deps: true });
    const without = buildProgram((g) => {
      seen.global = g.sshAgentAuth;
      throw refuse;
    });
    await assert.rejects(without.parseAsync(["etcd", "health", "-c", config], { from: "user" }), refuse);
    assert.equal(seen.global, false);
  });
});
