import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { loadClusterConfig, missingEtcdControl, parseClusterConfig, statePathFor } from "../src/config/cluster.js";
import { MAX_CONFIG_BYTES } from "../src/config/yaml-source.js";
import { loadAgentConfig } from "../src/agent/config.js";
import { ConfigError } from "../src/util/errors.js";
import { redactText } from "../src/util/redact.js";

const HOUR = 3_600_000;

const THREE_NODES = `
nodes:
  - address: 10.0.0.1
    hostname_override: Node-1
    user: rancher
    port: 22
    ssh_key_path: ~/.ssh/id_rsa
    labels: { app: ingress }
    taints: [{ key: a, value: b, effect: NoSchedule }]
    role: [controlplane, etcd, worker]
  - address: 10.0.0.2
    role: [worker]
  - address: 203.0.113.3
    internal_address: 10.0.0.3
    role: [etcd]
  - address: 10.0.0.4
    hostname_override: node-4
    role: [etcd, controlplane]
`;

/** Parses `text`, expecting a ConfigError; returns its issues as "path: message" lines. */
function issuesOf(text: string): string[] {
  try {
    parseClusterConfig(text, "cluster.yml");
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message));
  }
  assert.fail("expected a ConfigError");
}

void describe("cluster.yml: RKE schema and defaults", () => {
  void it("resolves etcd members in file order with RKE's names and URLs", () => {
    const { config, warnings } = parseClusterConfig(THREE_NODES, "cluster.yml");
    assert.deepEqual(warnings, []);
    assert.equal(config.nodes.length, 4);
    assert.deepEqual(
      config.etcdNodes.map((n) => [n.index, n.memberName, n.ip, n.peerUrl, n.clientUrl, n.agent.endpoint]),
      [
        [0, "etcd-node-1", "10.0.0.1", "https://10.0.0.1:2380", "https://10.0.0.1:2379", "10.0.0.1:7443"],
        [2, "etcd-203.0.113.3", "10.0.0.3", "https://10.0.0.3:2380", "https://10.0.0.3:2379", "10.0.0.3:7443"],
        [3, "etcd-node-4", "10.0.0.4", "https://10.0.0.4:2380", "https://10.0.0.4:2379", "10.0.0.4:7443"],
      ],
    );
    const first = config.etcdNodes[0];
    assert.ok(first);
    assert.equal(first.snapshotDir, "/opt/rke/etcd-snapshots");
    assert.equal(first.restoreDir, "/opt/rke/etcd-snapshots-restore");
    assert.equal(first.dataDir, "/var/lib/etcd");
    assert.deepEqual(first.etcd, { mode: "external" });
    assert.deepEqual(first.postRestore, []);
    assert.equal(first.etcdCertName, "kube-etcd-10-0-0-1");
    assert.equal(config.etcdNodes[1]?.etcdCertName, "kube-etcd-10-0-0-3");
    assert.equal(config.raw["nodes"] !== undefined, true);
  });

  void it("defaults without services: legacy 12h creation and 72h window, recurring on, timeout 300", () => {
    const { config } = parseClusterConfig(THREE_NODES, "cluster.yml");
    assert.deepEqual(config.backup, {
      source: "legacy",
      recurring: true,
      intervalMs: 12 * HOUR,
      retentionWindowMs: 72 * HOUR,
      timeoutSeconds: 300,
      safeTimestamp: false,
    });
    assert.deepEqual(config.lifeboat, {
      s3: { addressing: "auto" },
      snapshot: { retries: 4, retryPauseSeconds: 15, compression: "deflate" },
    });
  });

  void it("empty backup_config gets RKE's defaults 12/6/300 and a 72h window", () => {
    const { config } = parseClusterConfig(`${THREE_NODES}\nservices:\n  etcd:\n    backup_config: {}\n`, "c.yml");
    assert.equal(config.backup.source, "backup_config");
    assert.equal(config.backup.intervalHours, 12);
    assert.equal(config.backup.retentionCount, 6);
    assert.equal(config.backup.timeoutSeconds, 300);
    assert.equal(config.backup.retentionWindowMs, 72 * HOUR);
    assert.equal(config.backup.intervalMs, 12 * HOUR);
  });

  void it("backup_config takes precedence over creation/retention, with a warning for each ignored key", () => {
    const text = `${THREE_NODES}
services:
  etcd:
    creation: 5m0s
    retention: 1h30m
    backup_config:
      interval_hours: 8
      retention: 3
      timeout: 0
`;
    const { config, warnings } = parseClusterConfig(text, "cluster.yml");
    assert.equal(config.backup.intervalMs, 8 * HOUR);
    assert.equal(config.backup.retentionWindowMs, 24 * HOUR);
    assert.equal(config.backup.timeoutSeconds, 300, "timeout <= 0 falls back to 300 as in RKE");
    assert.deepEqual(warnings, [
      "services.etcd.creation: ignored because backup_config is set (RKE's precedence)",
      "services.etcd.retention: ignored because backup_config is set (RKE's precedence)",
    ]);
  });

  void it("legacy Go durations are used without backup_config", () => {
    const text = `${THREE_NODES}\nservices:\n  etcd:\n    snapshot: false\n    creation: 1h30m\n    retention: 24h\n`;
    const { config } = parseClusterConfig(text, "cluster.yml");
    assert.equal(config.backup.recurring, false);
    assert.equal(config.backup.intervalMs, 1.5 * HOUR);
    assert.equal(config.backup.retentionWindowMs, 24 * HOUR);
  });

  void it("recurring is snapshot || enabled === true, and enabled: false alone warns that it stops nothing", () => {
    const base = `${THREE_NODES}\nservices:\n  etcd:\n`;
    const on = parseClusterConfig(`${base}    snapshot: false\n    backup_config: { enabled: true }\n`, "c.yml");
    assert.equal(on.config.backup.recurring, true);
    const off = parseClusterConfig(`${base}    snapshot: false\n    backup_config: { enabled: false }\n`, "c.yml");
    assert.equal(off.config.backup.recurring, false);
    assert.deepEqual(off.warnings, []);
    const confusing = parseClusterConfig(`${base}    backup_config: { enabled: false }\n`, "c.yml");
    assert.equal(confusing.config.backup.recurring, true);
    assert.match(confusing.warnings.join("\n"), /enabled: false does not stop recurring snapshots/);
  });

  void it("accepts every other RKE top-level key silently and warns on unknown keys with their full path", () => {
    const text = `${THREE_NODES}
cluster_name: prod
kubernetes_version: v1.28.15-rancher1-1
network: { plugin: canal, options: { anything: goes } }
authentication: { strategy: x509 }
addons: ""
system_images: { etcd: rancher/mirrored-coreos-etcd:v3.5.12 }
ingress: { provider: nginx }
private_registries: []
dns: { provider: coredns }
upgrade_strategy: { drain: false }
services:
  kube-api: { service_cluster_ip_range: 10.43.0.0/16 }
  kubelet: { extra_args: { max-pods: "250" } }
  etcd:
    extra_args: { election-timeout: "5000" }
    extra_env: [A=b]
    image: rancher/mirrored-coreos-etcd:v3.5.12
    backup_config:
      interval_hours: 12
      foo: 1
    snapshots: true
bogus: 1
lifeboat:
  snapshot: { retry: 3 }
`;
    const { config, warnings } = parseClusterConfig(
      text.replace("role: [worker]", "role: [worker]\n    colour: red"),
      "c.yml",
    );
    assert.equal(config.clusterName, "prod");
    assert.deepEqual(warnings.sort(), [
      "unknown key bogus (ignored)",
      "unknown key lifeboat.snapshot.retry (ignored)",
      "unknown key nodes[1].colour (ignored)",
      "unknown key services.etcd.backup_config.foo (ignored)",
      "unknown key services.etcd.snapshots (ignored)",
    ]);
  });

  void it("reads Rancher's s3_backup_config spelling with a warning; both spellings is an error", () => {
    const s3 = "bucket_name: b\n        endpoint: minio.local:9000";
    const one = parseClusterConfig(
      `${THREE_NODES}\nservices:\n  etcd:\n    backup_config:\n      s3_backup_config:\n        ${s3}\n`,
      "c.yml",
    );
    assert.equal(one.config.backup.s3?.bucket, "b");
    assert.equal(one.config.backup.s3?.endpoint, "https://minio.local:9000");
    assert.deepEqual(one.warnings, [
      "services.etcd.backup_config.s3_backup_config: read as s3backupconfig (RKE itself ignores this spelling)",
    ]);
    const both = `${THREE_NODES}\nservices:\n  etcd:\n    backup_config:\n      s3backupconfig:\n        ${s3}\n      s3_backup_config:\n        ${s3}\n`;
    assert.deepEqual(issuesOf(both), [
      "services.etcd.backup_config.s3_backup_config: both s3backupconfig and s3_backup_config are set; keep only s3backupconfig",
    ]);
  });

  void it("resolves S3: bare endpoint means https, http:// is kept, lifeboat.s3 merges in, secrets are registered", () => {
    const text = `${THREE_NODES}
services:
  etcd:
    backup_config:
      s3backupconfig:
        access_key: AKIATESTKEY123
        secret_key: s3cr3t-value-xyz
        bucket_name: etcd
        region: ""
        endpoint: minio.local:9000
        folder: prod/etcd
lifeboat:
  s3: { addressing: path, proxy: "http://proxy.local:3128", session_token: tok-abc-123 }
`;
    const { config } = parseClusterConfig(text, "c.yml");
    assert.deepEqual(config.backup.s3, {
      endpoint: "https://minio.local:9000",
      bucket: "etcd",
      addressing: "path",
      folder: "prod/etcd",
      accessKey: "AKIATESTKEY123",
      secretKey: "s3cr3t-value-xyz",
      sessionToken: "tok-abc-123",
      proxy: "http://proxy.local:3128",
    });
    assert.equal(redactText("key=AKIATESTKEY123 secret=s3cr3t-value-xyz t=tok-abc-123"), "key=*** secret=*** t=***");
    const http = parseClusterConfig(text.replace("minio.local:9000", "http://127.0.0.1:9000/"), "c.yml");
    assert.equal(http.config.backup.s3?.endpoint, "http://127.0.0.1:9000");
  });

  void it("validates custom_ca as a certificate (PEM or base64 PEM)", async () => {
    const { createCA } = await import("../src/pki/pki.js");
    const ca = await createCA("s3-ca");
    const indented = ca.certificatePEM.trim().split("\n").join("\n          ");
    const base = `${THREE_NODES}\nservices:\n  etcd:\n    backup_config:\n      s3backupconfig:\n        bucket_name: b\n        endpoint: s3.local\n        custom_ca: `;
    const ok = parseClusterConfig(`${base}|\n          ${indented}\n`, "c.yml");
    assert.equal(ok.config.backup.s3?.customCaPem?.trim(), ca.certificatePEM.trim());
    const b64 = parseClusterConfig(`${base}${Buffer.from(ca.certificatePEM).toString("base64")}\n`, "c.yml");
    assert.equal(b64.config.backup.s3?.customCaPem, ca.certificatePEM);
    const issues = issuesOf(`${base}"-----BEGIN CERTIFICATE-----\\nnope\\n-----END CERTIFICATE-----"\n`);
    assert.equal(issues.length, 1);
    assert.match(
      issues[0] ?? "",
      /^services\.etcd\.backup_config\.s3backupconfig\.custom_ca: not a valid PEM certificate/,
    );
  });

  void it("Lifeboat node and cluster keys override the defaults", () => {
    const text = `
nodes:
  - address: 10.0.0.1
    role: [etcd]
    lifeboat:
      agent: 10.0.0.1:9443
      client_url: https://etcd-1.local:2379
      peer_url: https://etcd-1.local:2380
      member_name: one
      snapshot_dir: /backups
      restore_dir: /backups/restore
      data_dir: /data/etcd
      etcd: { mode: external, start_command: systemctl start etcd, stop_command: systemctl stop etcd, status_command: systemctl is-active --quiet etcd, tools_dir: /usr/local/bin }
      post_restore: ["systemctl restart kubelet"]
      install: { mode: plain, root: /srv/node1 }
  - address: "::1"
    role: [etcd]
    lifeboat: { etcd: { mode: managed } }
lifeboat:
  cluster_id: c-123
  etcd_tls: { ca_file: /etc/etcd/ca.pem, cert_file: /etc/etcd/client.pem, key_file: /etc/etcd/client-key.pem }
  snapshot: { retries: 0, retry_pause_seconds: 1, compression: none, level: 9 }
  schedule: { cron: "0 */6 * * *" }
  notifications: { webhook_url: "https://hooks.local/x", headers: { Authorization: Bearer-abc-123 }, on_success: true }
`;
    const { config, warnings } = parseClusterConfig(text, "c.yml");
    assert.deepEqual(warnings, []);
    const [one, two] = config.etcdNodes;
    assert.deepEqual(one && { ...one, roles: undefined }, {
      index: 0,
      address: "10.0.0.1",
      roles: undefined,
      ip: "10.0.0.1",
      memberName: "one",
      clientUrl: "https://etcd-1.local:2379",
      peerUrl: "https://etcd-1.local:2380",
      agent: { host: "10.0.0.1", port: 9443, endpoint: "10.0.0.1:9443" },
      snapshotDir: "/backups",
      restoreDir: "/backups/restore",
      dataDir: "/data/etcd",
      etcd: {
        mode: "external",
        startCommand: "systemctl start etcd",
        stopCommand: "systemctl stop etcd",
        statusCommand: "systemctl is-active --quiet etcd",
        toolsDir: "/usr/local/bin",
      },
      postRestore: ["systemctl restart kubelet"],
      install: { mode: "plain", root: "/srv/node1" },
      etcdCertName: "kube-etcd-10-0-0-1",
      etcdClientCertName: "kube-node",
    });
    assert.deepEqual(two?.install, { mode: "systemd", root: "/" });
    assert.equal(two?.peerUrl, "https://[::1]:2380");
    assert.equal(two?.agent.endpoint, "[::1]:7443");
    assert.deepEqual(two?.etcd, { mode: "managed" });
    assert.deepEqual(config.lifeboat, {
      clusterId: "c-123",
      etcdTls: { caFile: "/etc/etcd/ca.pem", certFile: "/etc/etcd/client.pem", keyFile: "/etc/etcd/client-key.pem" },
      s3: { addressing: "auto" },
      snapshot: { retries: 0, retryPauseSeconds: 1, compression: "none", level: 9 },
      schedule: { cron: "0 */6 * * *" },
      notifications: {
        webhookUrl: "https://hooks.local/x",
        headers: { Authorization: "Bearer-abc-123" },
        onSuccess: true,
      },
    });
    assert.equal(redactText("Bearer-abc-123"), "***");
    assert.deepEqual(missingEtcdControl(config.etcdNodes), []);
    const plain = parseClusterConfig(THREE_NODES, "c.yml").config.etcdNodes;
    assert.deepEqual(
      missingEtcdControl(plain).map((i) => i.path),
      ["nodes[0].lifeboat.etcd", "nodes[2].lifeboat.etcd", "nodes[3].lifeboat.etcd"],
    );
  });
});

void describe("cluster.yml: etcd tools and RKE's preset", () => {
  const RKE_STATUS = "docker inspect -f '{{.State.Running}}' etcd | grep -qx true";

  void it("tools_dir is the key; binary_dir, its older name, still reads; both must agree", () => {
    const node = (etcd: string) => `nodes:\n  - address: 10.0.0.1\n    role: [etcd]\n    lifeboat: { etcd: ${etcd} }\n`;
    const tools = (etcd: string) => parseClusterConfig(node(etcd), "c.yml").config.etcdNodes[0]?.etcd;
    assert.deepEqual(tools("{ mode: managed, tools_dir: /opt/etcd }"), { mode: "managed", toolsDir: "/opt/etcd" });
    assert.deepEqual(tools("{ mode: managed, binary_dir: /opt/etcd }"), { mode: "managed", toolsDir: "/opt/etcd" });
    assert.deepEqual(tools("{ mode: managed, tools_dir: /a, binary_dir: /a }"), { mode: "managed", toolsDir: "/a" });
    assert.deepEqual(issuesOf(node("{ mode: managed, tools_dir: /a, binary_dir: /b }")), [
      'nodes[0].lifeboat.etcd.binary_dir: the older name of tools_dir; give one of them (tools_dir is "/a", binary_dir "/b")',
    ]);
    assert.deepEqual(issuesOf(node("{ mode: managed, tools_dir: rel }")), [
      'nodes[0].lifeboat.etcd.tools_dir: must be an absolute path, got "rel"',
    ]);
  });

  void it("preset rke on a node: RKE's Docker commands, paths and the member's own client certificate", () => {
    const text = `
nodes:
  - address: 203.0.113.1
    internal_address: 10.0.0.1
    role: [etcd]
    lifeboat: { etcd: { preset: rke } }
  - address: 10.0.0.2
    role: [etcd]
`;
    const { config, warnings } = parseClusterConfig(text, "c.yml");
    assert.deepEqual(warnings, []);
    const [rke, plain] = config.etcdNodes;
    assert.deepEqual(rke?.etcd, {
      mode: "external",
      startCommand: "docker start etcd",
      stopCommand: "docker stop etcd",
      statusCommand: RKE_STATUS,
    });
    assert.equal(rke?.preset, "rke");
    assert.equal(rke?.dataDir, "/var/lib/etcd");
    assert.equal(rke?.snapshotDir, "/opt/rke/etcd-snapshots");
    assert.equal(rke?.restoreDir, "/opt/rke/etcd-snapshots-restore");
    assert.equal(rke?.etcdClientCertName, "kube-etcd-10-0-0-1");
    assert.equal(rke?.etcdClientCertName, rke?.etcdCertName);
    assert.deepEqual(plain?.etcd, { mode: "external" }, "a node without the preset is unchanged");
    assert.equal(plain?.etcdClientCertName, "kube-node");
    assert.equal(plain?.preset, undefined);
    assert.deepEqual(
      missingEtcdControl(config.etcdNodes).map((i) => i.path),
      ["nodes[1].lifeboat.etcd"],
    );
  });

  void it("preset rke at the top applies to every etcd node; explicit keys win, key by key", () => {
    const text = `
nodes:
  - address: 10.0.0.1
    role: [etcd]
    lifeboat:
      data_dir: /mnt/etcd
      snapshot_dir: /backups
      etcd: { stop_command: "docker stop -t 30 etcd", tools_dir: /opt/etcd-3.5 }
  - address: 10.0.0.2
    role: [etcd]
    lifeboat: { etcd: { mode: managed } }
  - address: 10.0.0.3
    role: [worker]
lifeboat:
  etcd: { preset: rke }
`;
    const { config, warnings } = parseClusterConfig(text, "c.yml");
    assert.deepEqual(warnings, [], "mode: managed over the preset drops its commands without a warning");
    const [one, two] = config.etcdNodes;
    assert.deepEqual(one?.etcd, {
      mode: "external",
      startCommand: "docker start etcd",
      stopCommand: "docker stop -t 30 etcd",
      statusCommand: RKE_STATUS,
      toolsDir: "/opt/etcd-3.5",
    });
    assert.deepEqual([one?.dataDir, one?.snapshotDir], ["/mnt/etcd", "/backups"]);
    assert.deepEqual(two?.etcd, { mode: "managed" });
    assert.deepEqual([one?.preset, two?.preset], ["rke", "rke"]);
    assert.equal(two?.etcdClientCertName, "kube-etcd-10-0-0-2");
  });

  void it("agent.json: etcd.toolsDir, and an older file's managed/external binaryDir read as it", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "lifeboat-agent-json-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const base = {
      version: 1,
      node: "etcd-a",
      listen: "127.0.0.1:7443",
      tls: { ca: "ca.pem", cert: "a.pem", key: "k.pem" },
      snapshotDir: "/s",
      restoreDir: "/r",
    };
    const etcd = { clientUrl: "http://127.0.0.1:2379", peerUrl: "http://127.0.0.1:2380", dataDir: "/d" };
    const load = async (e: object) => {
      await writeFile(join(dir, "agent.json"), JSON.stringify({ ...base, etcd: { ...etcd, ...e } }));
      return (await loadAgentConfig(dir)).etcd.toolsDir;
    };
    const managed = { initialCluster: "etcd-a=http://127.0.0.1:2380", initialClusterToken: "t", logFile: "/l" };
    assert.equal(await load({ mode: "managed", managed: { ...managed, binaryDir: "/old" } }), "/old");
    assert.equal(
      await load({ mode: "external", external: { startCommand: "", stopCommand: "", binaryDir: "/o" } }),
      "/o",
    );
    assert.equal(await load({ mode: "managed", toolsDir: "/new", managed: { ...managed, binaryDir: "/old" } }), "/new");
    assert.equal(await load({ mode: "managed", managed }), undefined);
  });

  void it("an unknown preset is an error at its key", () => {
    const text = `nodes:\n  - address: 10.0.0.1\n    role: [etcd]\n    lifeboat: { etcd: { preset: rke2 } }\nlifeboat: { etcd: { preset: k3s } }\n`;
    assert.deepEqual(issuesOf(text), [
      "nodes[0].lifeboat.etcd.preset: must be rke",
      "lifeboat.etcd.preset: must be rke",
    ]);
  });
});

void describe("cluster.yml: errors", () => {
  void it("reports YAML syntax errors as FILE:LINE:COL", () => {
    const issues = issuesOf("nodes:\n  - address: 10.0.0.1\n    role: [etcd\nservices: {}\n");
    assert.equal(issues.length, 1);
    assert.match(issues[0] ?? "", /^cluster\.yml:4:1: /);
    assert.match(issuesOf("nodes: []\nnodes: []\n")[0] ?? "", /^cluster\.yml:2:1: Map keys must be unique/);
    assert.deepEqual(issuesOf("- just\n- a list\n"), ["cluster.yml: the top level must be a mapping of keys"]);
  });

  void it("collects every schema error with its exact key path", () => {
    const text = `
nodes:
  - role: [etcd, master]
  - address: 10.0.0.2
    role: etcd
  - address: 10.0.0.3
    role: []
  - "just a string"
services:
  etcd:
    snapshot: "yes please"
    creation: 3d
    retention: 72
    backup_config:
      interval_hours: 0
      retention: 1.5
      timeout: soon
      s3backupconfig:
        region: us-east-1
        access_key: { nested: true }
lifeboat:
  s3: { addressing: dns }
  snapshot: { retries: -1, retry_pause_seconds: 1.5, compression: gzip, level: 10, compression_threads: 0 }
  etcd_tls: { ca_file: /ca.pem }
  notifications: { headers: [] }
  schedule: {}
`;
    assert.deepEqual(issuesOf(text), [
      "nodes[0].address: required",
      "nodes[0].role[1]: must be one of etcd, controlplane, worker",
      "nodes[1].role: must be a list of roles, e.g. [etcd, controlplane]",
      "nodes[2].role: must list at least one of etcd, controlplane, worker",
      "nodes[3]: must be a mapping (found text)",
      "services.etcd.snapshot: must be true or false (found text)",
      'services.etcd.creation: "3d" is not a Go duration (there is no "d" unit: 3d is 72h); use h, m, s, ms, us or ns, e.g. 72h, 1h30m, 5m0s',
      "services.etcd.retention: must be a Go duration string such as 72h or 1h30m",
      "services.etcd.backup_config.interval_hours: must be a whole number >= 1",
      "services.etcd.backup_config.retention: must be a whole number >= 1",
      "services.etcd.backup_config.timeout: must be a whole number of seconds",
      "services.etcd.backup_config.s3backupconfig.access_key: must be a string",
      "services.etcd.backup_config.s3backupconfig.bucket_name: required when s3backupconfig is set",
      "services.etcd.backup_config.s3backupconfig.endpoint: required when s3backupconfig is set",
      "lifeboat.etcd_tls.cert_file: required",
      "lifeboat.etcd_tls.key_file: required",
      "lifeboat.s3.addressing: must be one of auto, path, virtual",
      "lifeboat.snapshot.retries: must be a whole number >= 0",
      "lifeboat.snapshot.retry_pause_seconds: must be a whole number >= 0",
      "lifeboat.snapshot.compression: must be one of deflate, none",
      "lifeboat.snapshot.level: must be a whole number from 0 to 9",
      "lifeboat.snapshot.compression_threads: must be a whole number from 1 to 16",
      "lifeboat.notifications.webhook_url: required",
      "lifeboat.notifications.headers: must be a mapping of header names to values",
    ]);
  });

  void it("reads lifeboat.schedule as exactly one of cron and interval (Go duration, at least 1s)", () => {
    const base = "nodes:\n  - address: 10.0.0.1\n    role: [etcd]\nlifeboat:\n  schedule: ";
    assert.deepEqual(parseClusterConfig(base + "{ interval: 30m }\n", "cluster.yml").config.lifeboat.schedule, {
      intervalMs: 30 * 60_000,
    });
    assert.deepEqual(parseClusterConfig(base + '{ cron: "0 */6 * * *" }\n', "cluster.yml").config.lifeboat.schedule, {
      cron: "0 */6 * * *",
    });
    assert.deepEqual(issuesOf(base + "{}\n"), ["lifeboat.schedule: give exactly one of cron and interval"]);
    assert.deepEqual(issuesOf(base + '{ cron: "0 * * * *", interval: 1h }\n'), [
      "lifeboat.schedule: give exactly one of cron and interval",
    ]);
    assert.deepEqual(issuesOf(base + "{ interval: 500ms }\n"), ["lifeboat.schedule.interval: must be at least 1s"]);
    assert.match(
      issuesOf(base + "{ interval: 2d }\n")[0] ?? "",
      /^lifeboat\.schedule\.interval: "2d" is not a Go duration/,
    );
  });

  void it("reads lifeboat.schedule.verify as exactly one of every and after_snapshots; alone it keeps RKE's interval", () => {
    const base = "nodes:\n  - address: 10.0.0.1\n    role: [etcd]\nlifeboat:\n  schedule: ";
    const verifyOf = (text: string) => parseClusterConfig(base + text, "cluster.yml").config.lifeboat;
    assert.deepEqual(verifyOf("{ verify: { every: 24h } }\n").verify, { everyMs: 24 * HOUR });
    assert.equal(verifyOf("{ verify: { every: 24h } }\n").schedule, undefined, "RKE's interval still applies");
    assert.deepEqual(verifyOf("{ interval: 1h, verify: { after_snapshots: 4 } }\n").verify, { afterSnapshots: 4 });
    assert.deepEqual(issuesOf(base + "{ verify: {} }\n"), [
      "lifeboat.schedule.verify: give exactly one of every and after_snapshots",
    ]);
    assert.deepEqual(issuesOf(base + "{ verify: { every: 1h, after_snapshots: 2 } }\n"), [
      "lifeboat.schedule.verify: give exactly one of every and after_snapshots",
    ]);
    assert.match(issuesOf(base + "{ verify: { every: soon } }\n")[0] ?? "", /^lifeboat\.schedule\.verify\.every: /);
    assert.match(
      issuesOf(base + "{ verify: { after_snapshots: 0 } }\n")[0] ?? "",
      /^lifeboat\.schedule\.verify\.after_snapshots: /,
    );
  });

  void it("reads the break-glass passphrase: a file or a variable, used with the identity for restores", () => {
    const recipient = "age1s72zxkjvjg5am4quaccq0wn86ss2hcaelwymsfkuftfd86py54dst35z54";
    const base = `nodes:\n  - address: 10.0.0.1\n    role: [etcd]\nlifeboat:\n  encryption:\n    recipients: [${recipient}]\n`;
    const enc = (text: string) => parseClusterConfig(base + text, "cluster.yml").config.lifeboat.encryption;
    assert.deepEqual(enc("    passphrase_file: /etc/lifeboat/glass\n")?.identity, {
      passphraseFile: "/etc/lifeboat/glass",
    });
    assert.deepEqual(enc("    identity_file: /etc/lifeboat/age.key\n    passphrase_env: GLASS\n")?.identity, {
      any: [{ file: "/etc/lifeboat/age.key" }, { passphraseEnv: "GLASS" }],
    });
    assert.deepEqual(enc("    passphrase_env: GLASS\n")?.passphrase, { passphraseEnv: "GLASS" });
    assert.deepEqual(issuesOf(base + "    passphrase_file: glass.txt\n"), [
      "lifeboat.encryption.passphrase_file: must be an absolute path (on the nodes and here)",
    ]);
    assert.deepEqual(issuesOf(base + "    passphrase_file: /a\n    passphrase_env: B\n"), [
      "lifeboat.encryption: give at most one of passphrase_file and passphrase_env",
    ]);
    assert.deepEqual(issuesOf(base + "    passphrase_env: 1-bad\n"), [
      "lifeboat.encryption.passphrase_env: must be an environment variable's name",
    ]);
  });

  void it("reports semantic errors: etcd role, addresses, URLs, paths, duplicates, commands, endpoint", () => {
    assert.deepEqual(issuesOf("nodes:\n  - address: 10.0.0.1\n    role: [worker]\n"), [
      "nodes: at least one node must have the etcd role",
    ]);
    assert.deepEqual(issuesOf(""), ["nodes: required"]);
    const text = `
nodes:
  - address: "bad host!"
    role: [etcd]
  - address: 10.0.0.2
    internal_address: 10.0.0.2
    hostname_override: A
    role: [etcd]
    lifeboat:
      agent: "10.0.0.9"
      client_url: "ftp://10.0.0.2:2379"
      peer_url: "https://10.0.0.2:2380/path"
      snapshot_dir: relative/dir
      etcd: { start_command: "docker start etcd" }
  - address: 10.0.0.3
    role: [etcd]
    lifeboat: { member_name: etcd-a, agent: "10.0.0.4:7443", etcd: { mode: managed, binary_dir: bin }, install: { root: /srv } }
  - address: 10.0.0.4
    role: [etcd]
    lifeboat: { agent: "10.0.0.4:70000", install: { mode: plain, root: srv } }
services:
  etcd:
    backup_config:
      s3backupconfig: { bucket_name: b, endpoint: "s3://bucket" }
lifeboat:
  etcd_tls: { ca_file: ca.pem, cert_file: /c.pem, key_file: /k.pem }
  s3: { proxy: "socks://proxy" }
  schedule: { cron: "every hour" }
  notifications: { webhook_url: "not a url" }
`;
    assert.deepEqual(issuesOf(text), [
      "lifeboat.etcd_tls.ca_file: must be an absolute path on the nodes",
      "lifeboat.s3.proxy: must be an http:// or https:// URL",
      'lifeboat.schedule.cron: "every hour" is not a five-field cron expression (e.g. "0 */12 * * *")',
      "lifeboat.notifications.webhook_url: must be an http:// or https:// URL",
      'nodes[0].address: "bad host!" is not an IP address or host name',
      'nodes[1].lifeboat.client_url: "ftp://10.0.0.2:2379" must start with http:// or https://',
      'nodes[1].lifeboat.peer_url: "https://10.0.0.2:2380/path" must not have a path or query',
      'nodes[1].lifeboat.agent: must be host:port (e.g. 10.0.0.1:7443), got "10.0.0.9"',
      'nodes[1].lifeboat.snapshot_dir: must be an absolute path, got "relative/dir"',
      "nodes[1].lifeboat.etcd.stop_command: required in external mode (with the other command)",
      'nodes[2].lifeboat.etcd.binary_dir: must be an absolute path, got "bin"',
      'nodes[2].lifeboat.install.root: must be "/" in systemd mode (another root needs mode: plain)',
      "nodes[3].lifeboat.agent: port 70000 is out of range 1-65535",
      'nodes[3].lifeboat.install.root: must be an absolute path, got "srv"',
      'nodes[2].lifeboat.member_name: duplicate member name "etcd-a" (also used by nodes[1])',
      'nodes[3].lifeboat.agent: duplicate agent endpoint "10.0.0.4:7443" (also used by nodes[2])',
      'services.etcd.backup_config.s3backupconfig.endpoint: "s3://bucket" must start with http:// or https://',
    ]);
  });

  void it("rejects empty names and commands", () => {
    const text = `
nodes:
  - address: 10.0.0.4
    role: [etcd]
    lifeboat: { member_name: "", post_restore: [""], etcd: { start_command: "", stop_command: x } }
lifeboat: { cluster_id: "" }
`;
    assert.deepEqual(issuesOf(text), [
      "nodes[0].lifeboat.member_name: must not be empty",
      "nodes[0].lifeboat.etcd.start_command: must not be empty",
      "nodes[0].lifeboat.post_restore[0]: must not be empty",
      "lifeboat.cluster_id: must not be empty",
    ]);
  });

  void it("never echoes secret values in type errors", () => {
    const text = `${THREE_NODES}\nservices:\n  etcd:\n    backup_config:\n      s3backupconfig:\n        bucket_name: b\n        endpoint: e.local\n        secret_key: [TOPSECRETVALUE]\n`;
    const issues = issuesOf(text).join("\n");
    assert.match(issues, /secret_key: must be a string/);
    assert.doesNotMatch(issues, /TOPSECRETVALUE/);
  });
});

void describe("cluster.yml: files and names", () => {
  void it("loads from disk, names the file in syntax errors and reports unreadable files", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "lifeboat-config-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, "cluster.yml");
    await writeFile(path, THREE_NODES);
    const loaded = await loadClusterConfig(path);
    assert.equal(loaded.path, path);
    assert.equal(loaded.config.etcdNodes.length, 3);
    await writeFile(path, "nodes: [\n");
    await assert.rejects(loadClusterConfig(path), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, new RegExp(`^${path.replace(/[.]/g, "\\.")}:2:1: `));
      return true;
    });
    await assert.rejects(loadClusterConfig(join(dir, "missing.yml")), /cannot read .*missing\.yml/);
  });

  void it("the full example in docs/config-reference.md loads without warnings", async () => {
    const doc = await readFile(join(import.meta.dirname, "../../docs/config-reference.md"), "utf8");
    const example = /## Full example\s+```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
    assert.ok(example, "the reference has a full example");
    const { config, warnings } = parseClusterConfig(example, "cluster.yml");
    assert.deepEqual(warnings, []);
    assert.deepEqual(
      config.etcdNodes.map((n) => n.memberName),
      ["etcd-node-1", "etcd-node-2", "etcd-node-3"],
    );
    assert.equal(config.backup.retentionWindowMs, 48 * HOUR);
    assert.deepEqual(missingEtcdControl(config.etcdNodes), []);
  });

  void it("derives the state file path as RKE does", () => {
    assert.equal(statePathFor("cluster.yml"), "cluster.rkestate");
    assert.equal(statePathFor("/etc/rke/rancher-cluster.yml"), "/etc/rke/rancher-cluster.rkestate");
    assert.equal(statePathFor("conf/cluster.yaml"), "conf/cluster.rkestate");
    assert.equal(statePathFor("/x/config"), "/x/config.rkestate");
  });

  void it("treats YAML 1.1 scalars like Go's yaml.v2 and empty keys as unset", () => {
    const text = `${THREE_NODES}\nservices:\n  etcd:\n    snapshot: no\n    backup_config:\n      s3backupconfig:\n        bucket_name: 12345\n        endpoint: s3.local\n        folder:\n`;
    const { config } = parseClusterConfig(text, "c.yml");
    assert.equal(config.backup.recurring, false);
    assert.equal(config.backup.s3?.bucket, "12345");
    assert.equal(config.backup.s3?.folder, undefined);
  });
});

void describe("cluster.yml: size and shape limits", () => {
  const NODE = "nodes:\n  - address: 10.0.0.1\n    role: [etcd]\n";
  /** `head` followed by as many `indent + key + suffix` lines (unique keys) as fit in `bytes`. */
  const fill = (head: string, bytes: number, line: (i: number) => string): { text: string; keys: number } => {
    const lines = [head];
    let size = Buffer.byteLength(head);
    for (let i = 0; ; i++) {
      const next = line(i);
      if (size + next.length > bytes) return { text: lines.join(""), keys: i };
      lines.push(next);
      size += next.length;
    }
  };

  void it("parses a file just under the limit that holds 70,000+ keys in one mapping", () => {
    const { text, keys } = fill(`${NODE}    labels:\n`, MAX_CONFIG_BYTES, (i) => `      k${i.toString(36)}: v\n`);
    assert.ok(keys > 70_000, `${keys} keys`);
    const { config, warnings } = parseClusterConfig(text, "cluster.yml");
    assert.deepEqual(warnings, []);
    assert.equal(config.etcdNodes.length, 1);
  });

  void it("reports every unknown key of a file full of them, and every duplicate with its line", () => {
    const unknown = fill(NODE, MAX_CONFIG_BYTES, (i) => `k${i.toString(36)}:\n`);
    const { warnings } = parseClusterConfig(unknown.text, "cluster.yml");
    assert.equal(warnings.length, unknown.keys);
    assert.equal(warnings.at(-1), `unknown key k${(unknown.keys - 1).toString(36)} (ignored)`);
    const repeated = fill(NODE, MAX_CONFIG_BYTES, (i) => (i % 2 ? "again: 1\n" : `k${i.toString(36)}: 1\n`));
    const issues = issuesOf(repeated.text);
    assert.equal(issues.length, Math.floor(repeated.keys / 2) - 1, "every repeat after the first is reported");
    assert.equal(issues[0], "cluster.yml:7:1: Map keys must be unique");
    assert.deepEqual(issuesOf(`${NODE}labels: { a: 1, b: 2, a: 3 }\n`), ["cluster.yml:4:23: Map keys must be unique"]);
    assert.deepEqual(issuesOf(`${NODE}x: { yes: 1, true: 2 }\n`), ["cluster.yml:4:14: Map keys must be unique"]);
  });

  void it("refuses text over 1 MiB (counted in bytes) naming the file and the limit", () => {
    /** A comment line of `pad` repeated until the text is `bytes` bytes long. */
    const padded = (bytes: number, pad: string) =>
      `${NODE}#${pad.repeat((bytes - NODE.length - 2) / Buffer.byteLength(pad))}\n`;
    assert.equal(Buffer.byteLength(padded(MAX_CONFIG_BYTES, "x")), MAX_CONFIG_BYTES);
    assert.equal(parseClusterConfig(padded(MAX_CONFIG_BYTES, "x"), "cluster.yml").config.etcdNodes.length, 1);
    const over = padded(MAX_CONFIG_BYTES + 2, "é");
    assert.equal(Buffer.byteLength(over), MAX_CONFIG_BYTES + 2);
    assert.ok(over.length < MAX_CONFIG_BYTES, "fewer characters than the limit, more bytes");
    assert.deepEqual(issuesOf(over), [
      `cluster.yml: the file is ${MAX_CONFIG_BYTES + 2} bytes, over the limit of 1048576 bytes (1 MiB) for a cluster.yml`,
    ]);
  });

  void it("reads aliases up to the bound and refuses more (the CLI test has the billion laughs)", () => {
    const aliases = (n: number) => `${NODE}first: &x { a: 1 }\nmore: [${Array(n).fill("*x").join(", ")}]\n`;
    const few = parseClusterConfig(aliases(50), "cluster.yml");
    assert.deepEqual(few.warnings, ["unknown key first (ignored)", "unknown key more (ignored)"]);
    assert.deepEqual(issuesOf(aliases(100)), [
      "cluster.yml: Excessive alias count indicates a resource exhaustion attack",
    ]);
  });
});
