/**
 * What the CLI prints, in text and as JSON, keeps S3 object keys and etcd keys but never a secret: fields named like
 * secrets are masked whole, and private keys, age identities and registered values are masked wherever they appear.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createOutput } from "../src/cli/output.js";
import { createCA } from "../src/pki/pki.js";
import { isSecretName, redact, redactText, registerSecret } from "../src/util/redact.js";

/** What one output prints on stdout and stderr, in each format. */
function printed(emit: (out: ReturnType<typeof createOutput>) => void) {
  const capture = (format: "text" | "json") => {
    const seen = { stdout: "", stderr: "" };
    emit(
      createOutput(format, { write: (c: string) => (seen.stdout += c) }, { write: (c: string) => (seen.stderr += c) }),
    );
    return seen;
  };
  return { text: capture("text"), json: capture("json") };
}

const AGE = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ";

void describe("redact", () => {
  void it("keeps object keys, etcd keys and the cluster token; masks fields named like secrets", () => {
    const entry = { name: "snap", location: "s3", key: "prod/snap.zip", size: 10 };
    assert.deepEqual(redact({ snapshots: [entry] }), { snapshots: [entry] });
    assert.deepEqual(redact({ key: "/registry/secrets/default/x", initialClusterToken: "lifeboat-1" }), {
      key: "/registry/secrets/default/x",
      initialClusterToken: "lifeboat-1",
    });
    for (const name of [
      "secret_key",
      "secretKey",
      "secretAccessKey",
      "access_key",
      "accessKey",
      "keyPEM",
      "key_pem",
      "privateKey",
      "password",
      "session_token",
      "sessionToken",
      "token",
      "Authorization",
      "age_identity",
      "identity",
      "credentials",
    ]) {
      assert.ok(isSecretName(name), name);
      assert.deepEqual(redact({ [name]: "hunter2-value" }), { [name]: "***" }, name);
    }
    for (const name of ["key", "keys", "objectKey", "name", "initialClusterToken", "folder", "bucket"]) {
      assert.equal(isSecretName(name), false, name);
    }
  });

  void it("copies an object shared by two fields twice, and cuts only a real cycle", () => {
    const shared = { name: "seed", result: "success" };
    const report = { nodes: [{ clusterVerify: shared }], scheduledVerify: { last: shared } };
    const out = redact(report);
    assert.deepEqual(out, { nodes: [{ clusterVerify: shared }], scheduledVerify: { last: shared } });
    const cycle: Record<string, unknown> = { name: "a" };
    cycle.self = cycle;
    cycle.list = [cycle];
    assert.deepEqual(redact(cycle), { name: "a", self: "[circular]", list: ["[circular]"] });
  });

  void it("masks private keys, age identities, URL credentials and registered secrets by value, under any name", async () => {
    const { keyPEM } = await createCA("redact-test-ca");
    const truncated = keyPEM.slice(0, 120);
    registerSecret("registered-s3-secret-value");
    const value = {
      key: keyPEM,
      note: `cut short: ${truncated}`,
      identity_file: `# created: 2026\n${AGE}\n`,
      endpoint: "http://user:pa55word@127.0.0.1:9000/bucket",
      nested: [{ key: "prefix/registered-s3-secret-value.zip" }],
    };
    const text = redactText(JSON.stringify(value));
    assert.deepEqual(redact(value), {
      key: "[private key]\n",
      note: "cut short: [private key]",
      identity_file: "# created: 2026\n***\n",
      endpoint: "http://***@127.0.0.1:9000/bucket",
      nested: [{ key: "prefix/***.zip" }],
    });
    for (const secret of [keyPEM.split("\n")[1] ?? "", truncated.slice(-40), AGE, "pa55word", "registered-s3"]) {
      assert.ok(secret.length > 5);
      assert.ok(!text.includes(secret), `text keeps none of ${secret.slice(0, 8)}...`);
    }
  });

  void it("the CLI's text lines, notes and JSON result print object keys but no secret", async () => {
    const { keyPEM } = await createCA("redact-output-ca");
    registerSecret("output-secret-key-value");
    const report = {
      snapshots: [{ name: "snap", location: "s3", key: "prod/snap.zip" }],
      s3: { bucket: "b", secret_key: "output-secret-key-value", keyPEM },
      error: `upload failed with secret output-secret-key-value`,
    };
    const { text, json } = printed((out) => {
      out.line(`snap  s3  prod/snap.zip  key=${keyPEM}`);
      out.note(`warning: secret_key output-secret-key-value was refused`);
      out.result(report);
    });
    assert.match(text.stdout, /^snap {2}s3 {2}prod\/snap\.zip {2}key=\[private key\]$/m);
    const parsed = JSON.parse(json.stdout) as typeof report;
    assert.equal(parsed.snapshots[0]?.key, "prod/snap.zip");
    assert.deepEqual(parsed.s3, { bucket: "b", secret_key: "***", keyPEM: "***" });
    assert.equal(parsed.error, "upload failed with secret ***");
    for (const output of [text.stdout, text.stderr, json.stdout, json.stderr]) {
      assert.ok(!output.includes("output-secret-key-value"));
      assert.ok(!output.includes("PRIVATE KEY"));
    }
    for (const { stderr } of [text, json]) assert.equal(stderr, "warning: secret_key *** was refused\n");
  });
});
