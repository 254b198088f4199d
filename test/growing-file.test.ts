/**
 * The file a restore's serving node downloads into while its own extraction and its peers read it (src/util/
 * growing-file.ts): readers follow the writer and end only after the commit; an abort fails them and leaves nothing.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { after, test } from "node:test";
import { GrowingFile } from "../src/util/growing-file.js";

const dir = await mkdtemp(join(tmpdir(), "lifeboat-growing-"));
after(() => rm(dir, { recursive: true, force: true }));

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function write(w: Writable, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => w.write(chunk, (err) => (err ? reject(err) : resolve())));
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

test("readers that start before, during and after the writes all read every byte, and end only after the commit", async () => {
  const target = join(dir, "whole.zip");
  const file = await GrowingFile.create(target);
  const early = readAll(file.reader());
  const data = randomBytes(3 * 1024 * 1024 + 17);
  const w = file.writable();
  let middle: Promise<Buffer> | undefined;
  for (let at = 0, i = 0; at < data.length; at += 256 * 1024, i++) {
    await write(w, data.subarray(at, at + 256 * 1024));
    if (i === 5) middle = readAll(file.reader());
    await tick();
  }
  await new Promise<void>((resolve) => w.end(resolve));
  let earlyEnded = false;
  void early.then(() => (earlyEnded = true));
  await tick();
  assert.equal(earlyEnded, false, "every byte is written, but the file is not committed: the reader waits");
  assert.deepEqual(
    (await readdir(dir)).filter((n) => !n.startsWith(".")),
    [],
    "nothing under a visible name before the commit",
  );
  await file.commit();
  assert.ok((await early).equals(data));
  assert.ok((await middle!).equals(data));
  assert.ok((await readAll(file.reader())).equals(data), "a reader after the commit");
  assert.ok((await readFile(target)).equals(data));
  assert.equal(file.size, data.length);
  await file.release();
  assert.throws(() => file.reader(), /no longer served/);
});

test("an abort fails every reader with its error and removes the temp file; a check in the commit aborts too", async () => {
  const file = await GrowingFile.create(join(dir, "broken.zip"));
  const reading = assert.rejects(readAll(file.reader()), /the download broke off \(test\)/);
  const w = file.writable();
  await write(w, randomBytes(100_000));
  await file.abort(new Error("the download broke off (test)"));
  await reading;
  await assert.rejects(readAll(file.reader()), /the download broke off \(test\)/, "a reader after the abort");
  assert.deepEqual(await readdir(dir).then((n) => n.filter((x) => x.includes("broken"))), []);
  await file.release();

  const checked = await GrowingFile.create(join(dir, "refused.zip"));
  const reader = assert.rejects(
    readAll(checked.reader()),
    /differs from its manifest/,
    "a reader never ends cleanly on a refused file",
  );
  const cw = checked.writable();
  await write(cw, randomBytes(1000));
  await new Promise<void>((resolve) => cw.end(resolve));
  await assert.rejects(
    checked.commit(() => {
      throw new Error("sha256 differs from its manifest (test)");
    }),
    /differs from its manifest/,
  );
  await reader;
  assert.deepEqual(await readdir(dir).then((n) => n.filter((x) => x.includes("refused"))), []);
  await checked.release();
});

test("a complete file is served to its end; releasing a file still written aborts it", async () => {
  const path = join(dir, "done.zip");
  const data = randomBytes(2_500_000);
  const made = await GrowingFile.create(path);
  const w = made.writable();
  await write(w, data);
  await new Promise<void>((resolve) => w.end(resolve));
  await made.commit(undefined, { durable: false });
  await made.release();
  const file = await GrowingFile.complete(path);
  assert.equal(file.committed, true);
  assert.ok((await readAll(file.reader())).equals(data));
  await file.release();

  const growing = await GrowingFile.create(join(dir, "dropped.zip"));
  const reading = assert.rejects(readAll(growing.reader()), /the session ended \(test\)/);
  await growing.release("the session ended (test)");
  await reading;
});
