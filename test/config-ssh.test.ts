/** cluster.yml's SSH keys, resolved with RKE's defaults into ClusterConfig.ssh. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseClusterConfig } from "../src/config/cluster.js";
import { redact } from "../src/util/redact.js";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";

void describe("cluster.yml: SSH settings (RKE's defaults)", () => {
  void it("defaults port 22 and ~/.ssh/id_rsa; names nodes by hostname_override or address", () => {
    const { config, warnings } = parseClusterConfig(
      "nodes:\n  - { address: 10.0.0.1, role: [etcd], hostname_override: Etcd-1 }\n  - { address: 10.0.0.2, role: [worker] }\n",
      "c.yml",
    );
    assert.deepEqual(warnings, []);
    assert.deepEqual(config.ssh, [
      { address: "10.0.0.1", port: 22, keyPath: "~/.ssh/id_rsa", agentAuth: false, at: "nodes[0]", name: "etcd-1" },
      { address: "10.0.0.2", port: 22, keyPath: "~/.ssh/id_rsa", agentAuth: false, at: "nodes[1]", name: "10.0.0.2" },
    ]);
  });

  void it("reads node keys over top-level ones, the top-level agent flag, and the bastion with its defaults", () => {
    const text = `
ssh_key_path: /keys/cluster
ssh_agent_auth: true
bastion_host: { address: 192.0.2.10, user: jump }
nodes:
  - address: 10.0.0.1
    port: "2222"
    user: rancher
    ssh_key_path: /keys/node1
    ssh_agent_auth: false
    role: [etcd]
  - address: 10.0.0.2
    user: rancher
    ssh_key: |
${KEY.replace(/^/gm, "      ")}
    role: [etcd]
`;
    const { config, warnings } = parseClusterConfig(text, "c.yml");
    assert.deepEqual(warnings, []);
    const bastion = {
      address: "192.0.2.10",
      port: 22,
      user: "jump",
      keyPath: "/keys/cluster",
      agentAuth: true,
      at: "bastion_host",
    };
    const [one, two] = config.ssh;
    assert.deepEqual(one, {
      address: "10.0.0.1",
      port: 2222,
      user: "rancher",
      keyPath: "/keys/node1",
      agentAuth: true,
      at: "nodes[0]",
      name: "10.0.0.1",
      bastion,
    });
    assert.equal(two?.privateKey?.trim(), KEY.trim());
    assert.equal(two?.keyPath, "/keys/cluster");
    assert.ok(!JSON.stringify(redact(config.ssh)).includes("b3BlbnNzaC1rZXktdjEAAAAA"), "ssh_key is masked by redact");
  });

  void it("warns about a port that is not one (loading still works) and checks types", () => {
    const { config, warnings } = parseClusterConfig("nodes:\n  - { address: h1, port: ssh, role: [etcd] }\n", "c.yml");
    assert.deepEqual(warnings, ['nodes[0].port: "ssh" is not a port number (1-65535)']);
    assert.equal(config.ssh[0]?.invalidPort, "ssh");
    assert.throws(
      () => parseClusterConfig("ssh_agent_auth: maybe\nnodes:\n  - { address: h1, role: [etcd] }\n", "c.yml"),
      /ssh_agent_auth: must be true or false/,
    );
    const unknown = parseClusterConfig(
      "bastion_host: { address: b, jump: x }\nnodes:\n  - { address: h1, role: [etcd] }\n",
      "c.yml",
    );
    assert.deepEqual(unknown.warnings, ["unknown key bastion_host.jump (ignored)"]);
  });
});
