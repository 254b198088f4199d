/**
 * Suggestions for an unknown command: by meaning first (remove -> delete), by spelling otherwise, and never a command
 * that stops members, however close its spelling.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { suggestCommands, unknownCommandMessage, type Candidate } from "../src/cli/suggest.js";

const ETCD: Candidate[] = [
  "snapshot-save",
  "snapshot-list",
  "snapshot-verify",
  "health",
  "schedule",
  "snapshot-status",
  "snapshot-prune",
  "snapshot-delete",
  "help",
].map((name) => ({ name, stopsMembers: false }));
ETCD.push({ name: "snapshot-restore", stopsMembers: true });

void describe("unknown command suggestions", () => {
  void it("words that mean delete, list, save or status point at that command", () => {
    for (const word of ["snapshot-remove", "snapshot-rm", "snapshot_del", "snapshot-erase", "remove", "rm", "Delete"]) {
      assert.deepEqual(suggestCommands(word, ETCD), ["snapshot-delete"], word);
    }
    assert.deepEqual(suggestCommands("snapshot-ls", ETCD), ["snapshot-list"]);
    assert.deepEqual(suggestCommands("backup", ETCD), ["snapshot-save"]);
    assert.deepEqual(suggestCommands("snapshot-info", ETCD), ["snapshot-status"]);
  });

  void it("typos get the command spelled nearest, ties all named", () => {
    assert.deepEqual(suggestCommands("snapshot-sav", ETCD), ["snapshot-save"]);
    assert.deepEqual(suggestCommands("snapshot-lsit", ETCD), ["snapshot-list"]);
    assert.deepEqual(suggestCommands("helth", ETCD), ["health"]);
    assert.deepEqual(suggestCommands("snapshot-statu", ETCD), ["snapshot-status"]);
    assert.deepEqual(suggestCommands("nothing-like-it", ETCD), []);
    const twins: Candidate[] = ["up", "us"].map((name) => ({ name, stopsMembers: false }));
    assert.deepEqual(suggestCommands("ux", twins), ["up", "us"]);
    assert.equal(unknownCommandMessage("ux", twins), "error: unknown command 'ux'\n(Did you mean one of up, us?)");
  });

  void it("never suggests a command that stops members, not even for a one-letter typo", () => {
    for (const word of ["snapshot-restor", "snapshot-restroe", "snapshot-restore2", "restore", "snapshot-rstore"]) {
      assert.ok(!suggestCommands(word, ETCD).includes("snapshot-restore"), word);
    }
    assert.equal(unknownCommandMessage("snapshot-restor", ETCD), "error: unknown command 'snapshot-restor'");
    // A delete-like word with no delete command around gets nothing, not the look-alike.
    assert.deepEqual(suggestCommands("snapshot-remove", [{ name: "snapshot-restore", stopsMembers: false }]), []);
    const sandbox: Candidate[] = [
      { name: "up", stopsMembers: false },
      { name: "status", stopsMembers: false },
      { name: "down", stopsMembers: true },
    ];
    assert.deepEqual(suggestCommands("dwn", sandbox), []);
    assert.deepEqual(suggestCommands("stats", sandbox), ["status"]);
  });
});
