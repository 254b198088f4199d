import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, stat, writeFile, mkdir, chmod } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { LocalStore } from "../src/store/local.js";
import { UserError } from "../src/util/errors.js";
import { describeStore, failingAfter } from "./helpers/store-suite.js";

describeStore("local directory", async () => {
  const dir = await mkdtemp(join(tmpdir(), "lifeboat-store-"));
  return { store: new LocalStore(dir), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

void describe("LocalStore specifics", () => {
  const dirs: string[] = [];
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), "lifeboat-store-"));
    dirs.push(dir);
    return dir;
  };
  after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  void it("writes files 0600 in directories created 0700, and leaves no temp file behind", async () => {
    const dir = await tempDir();
    const store = new LocalStore(dir);
    await store.put("cluster/one.zip", Buffer.from("x"));
    assert.equal((await stat(join(dir, "cluster", "one.zip"))).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, "cluster"))).mode & 0o777, 0o700);
    await assert.rejects(store.put("cluster/two.zip", failingAfter(Buffer.alloc(4096), 1000)), /source broke/);
    assert.deepEqual(await readdir(join(dir, "cluster")), ["one.zip"]);
  });

  void it("does not list the temp files of unfinished writes", async () => {
    const dir = await tempDir();
    await mkdir(join(dir, "c"));
    await writeFile(join(dir, "c", ".two.zip.0123abcd.part"), "half");
    await writeFile(join(dir, "c", "one.zip"), "done");
    const store = new LocalStore(dir);
    assert.deepEqual(
      (await store.list("")).map((o) => o.key),
      ["c/one.zip"],
    );
  });

  void it("check() names the directory and what is wrong with it", async () => {
    const dir = await tempDir();
    await new LocalStore(dir).check();
    await assert.rejects(new LocalStore(join(dir, "nope")).check(), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.equal(err.message, `snapshot directory ${join(dir, "nope")} does not exist`);
      return true;
    });
    await writeFile(join(dir, "file"), "x");
    await assert.rejects(new LocalStore(join(dir, "file")).check(), /is not a directory/);
    if (process.getuid?.() !== 0) {
      await mkdir(join(dir, "ro"), { mode: 0o500 });
      await assert.rejects(new LocalStore(join(dir, "ro")).check(), /is not writable/);
      await chmod(join(dir, "ro"), 0o700);
    }
  });
});
