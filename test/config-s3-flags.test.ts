import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { applyS3Flags, parseClusterConfig } from "../src/config/cluster.js";
import { createCA } from "../src/pki/pki.js";
import { ConfigError } from "../src/util/errors.js";
import { redactText } from "../src/util/redact.js";

const HOUR = 3_600_000;
const NODES = "nodes:\n  - address: 10.0.0.1\n    role: [etcd]\n";
const WITH_FILE_S3 = `${NODES}services:
  etcd:
    backup_config:
      interval_hours: 6
      retention: 4
      s3backupconfig:
        bucket_name: file-bucket
        endpoint: file.local
        folder: file-folder
        access_key: FILEACCESSKEY
lifeboat:
  s3: { addressing: path }
`;

async function issuesOf(p: Promise<unknown>): Promise<string[]> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
  assert.fail("expected a ConfigError");
}

void describe("--s3 flags", () => {
  void it("without --s3 the file's S3 config stays; stray S3 flags are errors naming the flag", async () => {
    const { config } = parseClusterConfig(WITH_FILE_S3, "c.yml");
    assert.equal(await applyS3Flags(config, {}), config);
    assert.equal(await applyS3Flags(config, { s3: false }), config);
    assert.deepEqual(await issuesOf(applyS3Flags(config, { bucketName: "b", s3Endpoint: "x" })), [
      "--bucket-name: only takes effect with --s3",
      "--s3-endpoint: only takes effect with --s3",
    ]);
  });

  void it("--s3 replaces the file's S3 config entirely and keeps backup_config's policy", async () => {
    const { config } = parseClusterConfig(WITH_FILE_S3, "c.yml");
    const out = await applyS3Flags(config, {
      s3: true,
      bucketName: "flag-bucket",
      accessKey: "FLAGACCESSKEY1",
      secretKey: "flag-secret-value",
      region: "eu-west-1",
    });
    assert.deepEqual(out.backup.s3, {
      endpoint: "https://s3.amazonaws.com",
      bucket: "flag-bucket",
      addressing: "path",
      region: "eu-west-1",
      accessKey: "FLAGACCESSKEY1",
      secretKey: "flag-secret-value",
    });
    assert.equal(out.backup.intervalHours, 6);
    assert.equal(out.backup.retentionWindowMs, 24 * HOUR);
    assert.equal(config.backup.s3?.bucket, "file-bucket", "the input config is not modified");
    assert.equal(redactText("FLAGACCESSKEY1 flag-secret-value"), "*** ***");
  });

  void it("--s3 without backup_config creates one with RKE's defaults (12 h, 6, 72h window, 300 s)", async () => {
    const { config } = parseClusterConfig(`${NODES}services:\n  etcd:\n    creation: 1h\n    retention: 2h\n`, "c.yml");
    assert.equal(config.backup.source, "legacy");
    const out = await applyS3Flags(config, { s3: true, bucketName: "b", s3Endpoint: "http://127.0.0.1:9000" });
    assert.equal(out.backup.source, "backup_config");
    assert.equal(out.backup.intervalHours, 12);
    assert.equal(out.backup.retentionCount, 6);
    assert.equal(out.backup.retentionWindowMs, 72 * HOUR);
    assert.equal(out.backup.timeoutSeconds, 300);
    assert.equal(out.backup.recurring, true);
    assert.equal(out.backup.s3?.endpoint, "http://127.0.0.1:9000");
  });

  void it("reads --s3-endpoint-ca from a file; missing, unreadable or invalid files are errors", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "lifeboat-s3flags-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const { config } = parseClusterConfig(NODES, "c.yml");
    const ca = await createCA("minio-ca");
    const caFile = join(dir, "ca.pem");
    await writeFile(caFile, ca.certificatePEM);
    const out = await applyS3Flags(config, { s3: true, bucketName: "b", s3EndpointCa: caFile, folder: "f" });
    assert.equal(out.backup.s3?.customCaPem, ca.certificatePEM);
    assert.equal(out.backup.s3?.folder, "f");

    const missing = join(dir, "nope.pem");
    const notCert = join(dir, "junk.pem");
    await writeFile(notCert, "hello");
    const issues = await issuesOf(applyS3Flags(config, { s3: true, s3EndpointCa: missing, s3Endpoint: "a b" }));
    assert.equal(issues.length, 3);
    assert.equal(issues[0], "--bucket-name: required with --s3");
    assert.match(issues[1] ?? "", /^--s3-endpoint-ca: cannot read .*nope\.pem: ENOENT/);
    assert.equal(issues[2], '--s3-endpoint: "a b" is not a host[:port] or an http(s):// URL');
    const junk = await issuesOf(applyS3Flags(config, { s3: true, bucketName: "b", s3EndpointCa: notCert }));
    assert.match(junk[0] ?? "", /^--s3-endpoint-ca: .*junk\.pem: not a valid PEM certificate/);
    const isDir = await issuesOf(applyS3Flags(config, { s3: true, bucketName: "b", s3EndpointCa: dir }));
    assert.match(isDir[0] ?? "", /^--s3-endpoint-ca: cannot read .*EISDIR/);
  });
});
