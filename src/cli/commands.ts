/** Every command and its flags, in one place. Each action calls a `run…(options, deps)` function. */
import { InvalidArgumentError, Option, type Command } from "commander";
import type { S3Flags } from "../config/cluster.js";
import type { SaveCommandOptions } from "./snapshot-save.js";
import type { RestoreOptions } from "./snapshot-restore.js";
import type { CliDeps } from "./deps.js";
import type { SchedulePushOptions } from "./schedule.js";
import type { DeleteCommandOptions } from "./snapshot-delete.js";
import type { PruneCommandOptions } from "./snapshot-prune.js";
import type { RekeyCommandOptions } from "./snapshot-rekey.js";
import type { CleanupCommandOptions } from "./restore-cleanup.js";
import type { AgentInstallOptions, AgentSshOptions } from "./agent-install.js";
import { UserError } from "../util/errors.js";
import { MAX_QUOTA_BYTES, MIN_QUOTA_BYTES, QUOTA_RULE } from "../config/quota.js";
import type { SandboxUpOptions as SandboxUpFlags } from "./sandbox.js";
import { stopsMembers } from "./suggest.js";

type Deps = () => CliDeps;

/** The default config path: `--config`, else $RKE_CONFIG (RKE's variable), else ./cluster.yml. */
export function defaultConfigPath(): string {
  return process.env.RKE_CONFIG ?? "cluster.yml";
}
type ListCommandOptions = { config: string } & S3Flags;
type VerifyCommandOptions = { config: string; name: string; local?: boolean } & S3Flags;

const configOption = () =>
  new Option("-c, --config <file>", "cluster.yml (env RKE_CONFIG)").default(defaultConfigPath());

/** RKE's S3 flags; with --s3 they replace the file's s3backupconfig. */
function addS3Flags(cmd: Command): Command {
  return cmd
    .option("--s3", "use the S3 flags below instead of cluster.yml's s3backupconfig")
    .option("--access-key <key>", "S3 access key (empty: the AWS credential chain)")
    .option("--secret-key <key>", "S3 secret key")
    .option("--bucket-name <name>", "S3 bucket (must exist)")
    .option("--region <region>", "S3 region")
    .option("--s3-endpoint <endpoint>", "S3 endpoint: host[:port], or a URL with http:// or https://")
    .option("--s3-endpoint-ca <file>", "file with the PEM CA of the S3 endpoint")
    .option("--folder <folder>", "folder (key prefix) in the bucket");
}

export function registerCommands(program: Command, deps: Deps): void {
  const etcd = program.command("etcd").description("etcd snapshots and restore (RKE's `rke etcd` commands)");

  addS3Flags(
    etcd
      .command("snapshot-save")
      .description("take a snapshot on every etcd node, keep it locally, upload it once to S3")
      .addOption(configOption())
      .option("--name <name>", "snapshot name (default rke_etcd_snapshot_<RFC3339 local time>)"),
  ).action(async (opts: SaveCommandOptions) => {
    const { runSnapshotSave } = await import("./snapshot-save.js");
    await runSnapshotSave(opts, deps());
  });

  addS3Flags(
    etcd
      .command("snapshot-list")
      .description("list snapshots on every node and in S3, from their manifests")
      .addOption(configOption()),
  ).action(async (opts: ListCommandOptions) => {
    const { runSnapshotList } = await import("./snapshot-list.js");
    await runSnapshotList(opts, deps());
  });

  addS3Flags(
    stopsMembers(etcd.command("snapshot-restore"))
      .description(
        "restore every member from one snapshot: fetch, serve, verify everywhere, then rebuild (old data kept)",
      )
      .addOption(configOption())
      .option("--name <name>", "snapshot to restore (required unless --rollback or a point in time)")
      .option(
        "--to-revision <n>",
        "restore the cluster as it was at this revision (the revision log in S3)",
        parseWhole,
      )
      .option(
        "--to-time <time>",
        "restore the last revision observed at or before this RFC 3339 time (the revision log)",
      )
      .option("--latest", "restore the newest revision the revision log in S3 holds")
      .option("--chain <id>", "with a point in time: the revision log chain to use (see snapshot-list)")
      .option("--local", "use the nodes' local copies even when S3 is configured")
      .option("--from-node <name>", "restore the copy on this etcd node (e.g. when another copy is broken)")
      .option("--use-local-state", "use the local state file, not the one inside the archive")
      .option("--dry-run", "print the restore plan and change nothing")
      .option("--yes", "do not ask for confirmation (required when stdin is not a terminal)")
      .option(
        "--rollback",
        "put back the data directories from before the last restore (an unfinished one, or the last successful one while its old data is kept); refuses when there is nothing to put back",
      )
      .option("--bump-revision <n>", "raise the revision by n (0: off; default: computed, see the plan)", parseWhole)
      .option("--timeout <seconds>", "how long the restored cluster may take to be healthy", parseWhole),
  ).action(async (opts: RestoreOptions) => {
    const { runSnapshotRestore } = await import("./snapshot-restore.js");
    await runSnapshotRestore(opts, deps());
  });

  addS3Flags(
    etcd
      .command("snapshot-verify")
      .description("prove a snapshot restores: restore it on one node into a throwaway etcd on loopback, then clean up")
      .addOption(configOption())
      .requiredOption("--name <name>", "snapshot to verify")
      .option("--local", "use the nodes' local copies even when S3 is configured")
      .option("--from-node <name>", "verify the copy on this etcd node"),
  ).action(async (opts: VerifyCommandOptions) => {
    const { runSnapshotVerify } = await import("./snapshot-verify.js");
    await runSnapshotVerify(opts, deps());
  });

  etcd
    .command("restore-cleanup")
    .description(
      "list and remove what restores left on every node: old and failed data directories (the newest kept), " +
        "extracted snapshots, downloads; refused on a node with a restore in progress",
    )
    .addOption(configOption())
    .option("--dry-run", "print every item and what would happen to it; remove nothing", false)
    .option(
      "--keep <n>",
      "old data directories (and restore records) to keep per node, newest first (default 1)",
      parseWhole,
    )
    .option("--node <member>", "only this etcd node (repeat for more), e.g. etcd-node1", collect)
    .action(async (opts: CleanupCommandOptions) => {
      const { runRestoreCleanup } = await import("./restore-cleanup.js");
      await runRestoreCleanup(opts, deps());
    });

  etcd
    .command("health")
    .description("each member's health as its agent sees it")
    .addOption(configOption())
    .action(async (opts: { config: string }) => {
      const { runHealth } = await import("./health.js");
      await runHealth(opts, deps());
    });

  registerAgentCommands(program, deps);

  const cert = program.command("cert").description("the cluster's certificates");
  cert
    .command("init")
    .description(
      "create the cluster CA (kube-ca) and every node's certificates in the state file beside cluster.yml; " +
        "an existing CA is kept (use RKE's cluster.rkestate for a cluster RKE built)",
    )
    .addOption(configOption())
    .action(async (opts: { config: string }) => {
      const { runCertInit } = await import("./cert.js");
      await runCertInit(opts, deps());
    });
  cert
    .command("etcd")
    .description("write the server and peer certificate of an etcd member you run (RKE's kube-etcd-<ip> names)")
    .addOption(configOption())
    .requiredOption("--node <member>", "etcd member name, e.g. etcd-node1")
    .requiredOption("--out <dir>", "output folder")
    .action(async (opts: { config: string; node: string; out: string }) => {
      const { runCertEtcd } = await import("./cert.js");
      await runCertEtcd(opts, deps());
    });
  cert
    .command("client")
    .description("write a client certificate (lifeboat-metrics) for Prometheus or curl against the agents' /metrics")
    .addOption(configOption())
    .requiredOption("--out <dir>", "output folder")
    .action(async (opts: { config: string; out: string }) => {
      const { runCertClient } = await import("./cert.js");
      await runCertClient(opts, deps());
    });
  cert
    .command("node")
    .description("write the folder an etcd node's agent runs from (agent.json, CA, agent and etcd client certificates)")
    .addOption(configOption())
    .requiredOption("--node <member>", "etcd member name, e.g. etcd-node1")
    .requiredOption("--out <dir>", "output folder")
    .action(async (opts: { config: string; node: string; out: string }) => {
      const { runCertNode } = await import("./cert.js");
      await runCertNode(opts, deps());
    });

  const key = program.command("key").description("age keys for lifeboat.encryption");
  key
    .command("generate")
    .description(
      "write a new age identity to FILE (0600; an existing file is never overwritten) and print its recipient, " +
        "the public key for lifeboat.encryption.recipients",
    )
    .requiredOption("--out <file>", "where the identity (the private key) is written")
    .action(async (opts: { out: string }) => {
      const { runKeyGenerate } = await import("./key.js");
      await runKeyGenerate(opts, deps());
    });
  key
    .command("derive")
    .description(
      "derive the break-glass identity from a passphrase (lifeboat.encryption.passphrase_file/_env) and print its " +
        "recipient; with --out, also write the identity to FILE (0600, never overwritten) for a restore by hand",
    )
    .option("--passphrase-file <file>", "a file whose first line is the passphrase")
    .option("--passphrase-env <name>", "an environment variable that holds the passphrase")
    .option("--out <file>", "where to write the derived identity (the private key)")
    .action(async (opts: { passphraseFile?: string; passphraseEnv?: string; out?: string }) => {
      const { runKeyDerive } = await import("./key.js");
      await runKeyDerive(opts, deps());
    });

  const sandbox = program.command("sandbox").description("a whole cluster on loopback: etcd members, agents, S3");
  const dirOption = () => new Option("--dir <dir>", "working folder").default("lifeboat-sandbox");
  sandbox
    .command("up")
    .description("start N etcd members (TLS), their agents and an S3 server; write cluster.yml")
    .addOption(dirOption())
    .option("--nodes <n>", "number of etcd members", (v) => Number(v), 3)
    .option("--etcd-series <series>", "etcd series to run: 3.4 or 3.5 (default: newest available)")
    .addOption(
      new Option(
        "--etcd-mode <mode>",
        "managed: each agent runs its member; external: members run under a supervisor outside the agents, " +
          "started and stopped through cluster.yml's commands (as in production)",
      )
        .choices(["managed", "external"])
        .default("managed"),
    )
    .option(
      "--quota-backend-bytes <bytes>",
      "etcd's backend quota for every member (cluster.yml's lifeboat.etcd.quota_backend_bytes; default etcd's 2 GiB)",
      parseQuota,
    )
    .action(async (opts: SandboxUpFlags) => {
      const { runSandboxUp } = await import("./sandbox.js");
      await runSandboxUp(opts, deps());
    });
  sandbox
    .command("status")
    .description("show each process and member of the sandbox")
    .addOption(dirOption())
    .action(async (opts: { dir: string }) => {
      const { runSandboxStatus } = await import("./sandbox.js");
      await runSandboxStatus(opts, deps());
    });
  stopsMembers(sandbox.command("down"))
    .description("stop every process the sandbox started")
    .addOption(dirOption())
    .option("--purge", "also delete the working folder", false)
    .action(async (opts: { dir: string; purge: boolean }) => {
      const { runSandboxDown } = await import("./sandbox.js");
      await runSandboxDown(opts, deps());
    });
  for (const action of ["start", "stop"] as const) {
    sandbox
      .command(`member-${action}`, { hidden: true })
      .requiredOption("--spec <file>", "the member's member.json")
      .action(async (opts: { spec: string }) => {
        const { runSandboxMember } = await import("./sandbox.js");
        await runSandboxMember(action, opts, deps());
      });
  }
  sandbox
    .command("supervise", { hidden: true })
    .requiredOption("--spec <file>", "the member's member.json")
    .action(async (opts: { spec: string }) => {
      const { runSupervisor } = await import("./sandbox.js");
      await runSupervisor(opts, deps());
    });
  sandbox
    .command("s3-server", { hidden: true })
    .requiredOption("--host <host>")
    .requiredOption("--port <port>", "port", (v) => Number(v))
    .requiredOption("--data <dir>")
    .action(async (opts: { host: string; port: number; data: string }) => {
      const { runS3Server } = await import("./sandbox.js");
      await runS3Server(opts);
    });

  program
    .command("demo")
    .description("a disaster-recovery drill on a fresh sandbox, then tear it down")
    .option("--keep", "leave the sandbox running afterwards", false)
    .option("--etcd-series <series>", "etcd series to run: 3.4 or 3.5")
    .action(async (opts: { keep: boolean; etcdSeries?: string }) => {
      const { runDemo } = await import("./demo.js");
      await runDemo(opts, deps());
    });

  registerScheduleCommands(etcd, deps);
}

/**
 * `lifeboat agent --dir DIR` (or `agent run --dir DIR`) runs a node's agent; `agent install|upgrade|uninstall|status`
 * manage the agents on the etcd nodes over SSH. `--dir` belongs to `agent` itself (commander reads a parent's
 * options before its subcommand's), so `agent run` takes it from there.
 */
function registerAgentCommands(program: Command, deps: Deps): void {
  const agent = program
    .command("agent")
    .description(
      "run the node agent (HTTPS with mutual TLS) from a folder written by `lifeboat cert node`, " +
        "or install, upgrade, remove and check the agents on the etcd nodes over SSH",
    )
    .option("--dir <dir>", "the agent's folder (agent.json and certificates): run the agent")
    .action(async (opts: { dir?: string }) => runAgentCommand(opts, deps));
  agent
    .command("run")
    .description("run the node agent: lifeboat agent run --dir DIR (the same as lifeboat agent --dir DIR)")
    .action(async () => runAgentCommand(agent.opts<{ dir?: string }>(), deps));

  const sshOptions = (cmd: Command) =>
    cmd
      .addOption(configOption())
      .option("--node <member>", "only this etcd node (repeat for more), e.g. etcd-node1", collect)
      .option("--known-hosts <file>", "OpenSSH known_hosts file (default ~/.ssh/known_hosts)")
      .option("--accept-new-host-keys", "trust and record the key of a host known_hosts has no key for");
  const programOptions = (cmd: Command) =>
    cmd
      .option("--program <file>", "the lifeboat executable to install (default: this one, or dist/package's)")
      .option("--etcd-tools <file>", "etcd release tarball (etcd-vX.Y.Z-linux-amd64.tar.gz) or directory to copy");
  for (const [name, upgrade, description] of [
    [
      "install",
      false,
      "put the agent on every etcd node over SSH (program, agent folder, etcd tools, service), start it and wait " +
        "until it answers; run again, it changes only what differs",
    ],
    ["upgrade", true, "replace the program on nodes that have the agent, and restart it (schedule and history kept)"],
  ] as const) {
    programOptions(sshOptions(agent.command(name).description(description))).action(
      async (opts: AgentInstallOptions) => {
        const { runAgentInstall } = await import("./agent-install.js");
        await runAgentInstall(opts, deps(), upgrade);
      },
    );
  }
  sshOptions(
    agent
      .command("uninstall")
      .description("stop and remove the agent, its service, program and folder on every etcd node; snapshots stay"),
  ).action(async (opts: AgentSshOptions) => {
    const { runAgentUninstall } = await import("./agent-install.js");
    await runAgentUninstall(opts, deps());
  });
  sshOptions(
    agent
      .command("status")
      .description("per node: reachable over SSH, service state, installed version, the agent's version and health"),
  ).action(async (opts: AgentSshOptions) => {
    const { runAgentStatus } = await import("./agent-install.js");
    await runAgentStatus(opts, deps());
  });
}

async function runAgentCommand(opts: { dir?: string }, deps: Deps): Promise<void> {
  if (!opts.dir) {
    throw new UserError(
      "lifeboat agent: give --dir DIR to run an agent, or a subcommand: run, install, upgrade, uninstall, status",
    );
  }
  const { runAgent } = await import("./agent.js");
  await runAgent({ dir: opts.dir }, deps());
}

/** Recurring snapshots, retention and visibility: schedule push, snapshot-status, snapshot-prune, snapshot-delete. */
function registerScheduleCommands(etcd: Command, deps: Deps): void {
  const schedule = etcd.command("schedule").description("recurring snapshots on every etcd node");
  addS3Flags(
    schedule
      .command("push")
      .description(
        "send cluster.yml's schedule, retention, S3 settings and webhook to every agent (snapshot: false removes it)",
      )
      .addOption(configOption())
      .option(
        "--interval <duration>",
        "run every DURATION (e.g. 30s, 15m, 2h) instead of cluster.yml's interval or cron",
      )
      .option("--jitter <duration>", "random delay of each run, at most a tenth of the interval (default 5s)"),
  ).action(async (opts: SchedulePushOptions) => {
    const { runSchedulePush } = await import("./schedule.js");
    await runSchedulePush(opts, deps());
  });

  addS3Flags(
    etcd
      .command("snapshot-status")
      .description("per node and for S3: last success, last failure and why, next run, snapshots kept")
      .addOption(configOption()),
  ).action(async (opts: { config: string } & S3Flags) => {
    const { runSnapshotStatus } = await import("./snapshot-status.js");
    await runSnapshotStatus(opts, deps());
  });

  addS3Flags(
    etcd
      .command("snapshot-prune")
      .description("apply cluster.yml's retention on every node and in S3, printing each decision and its reasons")
      .addOption(configOption())
      .option("--dry-run", "print what would be removed, and why; remove nothing", false)
      .option("--include-one-time", "let retention remove one-time snapshots too (kept by default)", false),
  ).action(async (opts: PruneCommandOptions) => {
    const { runSnapshotPrune } = await import("./snapshot-prune.js");
    await runSnapshotPrune(opts, deps());
  });

  addS3Flags(
    etcd
      .command("snapshot-delete")
      .description("delete snapshots by name on every node and in S3 (manifest first)")
      .argument("<name...>", "snapshot names, without .zip")
      .addOption(configOption())
      .option("--force", "also delete the last good snapshot of a location", false),
  ).action(async (names: string[], opts: DeleteCommandOptions) => {
    const { runSnapshotDelete } = await import("./snapshot-delete.js");
    await runSnapshotDelete(names, opts, deps());
  });

  addS3Flags(
    etcd
      .command("snapshot-rekey")
      .description(
        "re-encrypt the S3 copies (all, or the named ones) to lifeboat.encryption.recipients, manifest last, " +
          "so that a retired key opens none of them (exit 0 all done, 3 some failed, 1 all failed, 4 no identity opens a copy)",
      )
      .argument("[name...]", "snapshot names, without .zip; default every good copy in S3")
      .addOption(configOption())
      .option("--identity <file>", "another identity file to read the copies with (the old key); repeatable", collect)
      .option("--dry-run", "print which copies would be re-encrypted; change nothing", false),
  ).action(async (names: string[], opts: RekeyCommandOptions) => {
    const { runSnapshotRekey } = await import("./snapshot-rekey.js");
    await runSnapshotRekey(names, opts, deps());
  });
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function parseQuota(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < MIN_QUOTA_BYTES || n > MAX_QUOTA_BYTES)
    throw new InvalidArgumentError(`must be ${QUOTA_RULE}`);
  return n;
}

function parseWhole(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError("must be a whole number >= 0");
  return n;
}
