/**
 * The age module (src/crypto/age.ts): a round trip, a large input streamed through encryption and decryption with
 * flat memory and backpressure, the header check (right key, wrong key, damaged header), identity loading from a
 * file and a variable with the errors that name where they looked (never the key), and fingerprints.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { after, test } from "node:test";
import {
  AGE_MAGIC,
  checkHeader,
  decryptStream,
  encryptStream,
  generateIdentity,
  loadIdentities,
  recipientFingerprint,
  recipientProblem,
  type LoadedIdentities,
} from "../src/crypto/age.js";
import { IdentityError } from "../src/util/errors.js";
import { redactText } from "../src/util/redact.js";
import { peakRssGrowth } from "./helpers/memory.js";

const dir = await mkdtemp(join(tmpdir(), "lifeboat-age-"));
after(() => rm(dir, { recursive: true, force: true }));

const MiB = 1 << 20;

async function identityFile(identity: string): Promise<string> {
  const path = join(dir, `id-${randomBytes(4).toString("hex")}.txt`);
  await writeFile(path, `# created for a test\n${identity}\n`, { mode: 0o600 });
  return path;
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

const alice = await generateIdentity();
const bob = await generateIdentity();
const aliceLoaded = await loadIdentities({ file: await identityFile(alice.identity) });
const bobLoaded = await loadIdentities({ env: "BOB_ID" }, { BOB_ID: bob.identity });

void test("a round trip to two recipients: each identity opens it, the output starts with the age header", async () => {
  const plain = randomBytes(300_000);
  const cipher = await encryptStream(Readable.from([plain.subarray(0, 1000), plain.subarray(1000)]), [
    alice.recipient,
    bob.recipient,
  ]);
  const bytes = await collect(cipher.stream);
  assert.equal(bytes.subarray(0, AGE_MAGIC.length).toString(), AGE_MAGIC);
  assert.equal(bytes.indexOf(plain.subarray(0, 64)), -1, "no plaintext in the ciphertext");
  assert.deepEqual(cipher.digest(), { size: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") });
  for (const loaded of [aliceLoaded, bobLoaded]) {
    const out = await collect(await decryptStream(Readable.from([bytes]), loaded, "test copy"));
    assert.ok(out.equals(plain));
  }
});

void test("the header check: the right identity opens it, another is an IdentityError naming where it looked", async () => {
  const bytes = await collect((await encryptStream(Readable.from([randomBytes(1000)]), [alice.recipient])).stream);
  await checkHeader(Readable.from([bytes]), aliceLoaded, "copy X");
  const err = await checkHeader(Readable.from([bytes]), bobLoaded, "copy X").then(
    () => assert.fail("bob opened alice's copy"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof IdentityError);
  assert.match(err.message, /copy X cannot be opened with the identity in environment variable BOB_ID/);
  assert.match(err.message, new RegExp(recipientFingerprint(bob.recipient)));
  assert.ok(!err.message.includes(bob.identity) && !err.message.includes("AGE-SECRET-KEY"));
  // A header whose MAC does not verify (one byte of the stanza changed).
  const damaged = Buffer.from(bytes);
  damaged.writeUInt8(damaged.readUInt8(40) === 0x41 ? 0x42 : 0x41, 40);
  await assert.rejects(checkHeader(Readable.from([damaged]), aliceLoaded, "copy X"), IdentityError);
  await assert.rejects(checkHeader(Readable.from([Buffer.from("PK\x03\x04 not age")]), aliceLoaded, "zip"), {
    name: "IdentityError",
    message: /zip is not a readable age file/,
  });
});

void test("a damaged payload makes the plaintext stream fail, never end early in silence", async () => {
  const bytes = await collect((await encryptStream(Readable.from([randomBytes(200_000)]), [alice.recipient])).stream);
  const damaged = Buffer.from(bytes);
  damaged.writeUInt8(damaged.readUInt8(damaged.length - 100) ^ 1, damaged.length - 100);
  const plain = await decryptStream(Readable.from([damaged]), aliceLoaded, "copy");
  await assert.rejects(collect(plain));
  await assert.rejects(collect(await decryptStream(Readable.from([bytes.subarray(0, 100_000)]), aliceLoaded, "c")));
});

void test("identity loading: every failure names the file or variable and never prints a key", async () => {
  const cases: [() => Promise<LoadedIdentities>, RegExp][] = [
    [() => loadIdentities({ file: join(dir, "missing.txt") }), /file .*missing\.txt does not exist/],
    [() => loadIdentities({ env: "UNSET_ID" }, {}), /environment variable UNSET_ID is not set/],
    [() => loadIdentities({ file: dir }), /is not a file/],
    [() => loadIdentities({ env: "X" }, { X: `${alice.recipient}\n` }), /line 1 is not an age identity/],
  ];
  const unreadable = await identityFile(alice.identity);
  await chmod(unreadable, 0o000);
  // root reads any file: the permission case is only real for another user.
  if (process.getuid?.() !== 0) cases.push([() => loadIdentities({ file: unreadable }), /permission denied/]);
  for (const [load, message] of cases) {
    const err = await load().then(
      () => assert.fail("loaded"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof IdentityError, String(err));
    assert.match(err.message, message);
    assert.ok(!err.message.includes(alice.identity));
  }
  // A loaded identity is registered as a secret: it cannot reach a log line.
  assert.ok(!redactText(`oops ${alice.identity}`).includes(alice.identity));
});

void test("recipients: fingerprints are short and stable; identities and junk are refused by name", () => {
  assert.match(recipientFingerprint(alice.recipient), /^sha256:[0-9a-f]{16}$/);
  assert.equal(recipientFingerprint(alice.recipient), recipientFingerprint(alice.recipient));
  assert.notEqual(recipientFingerprint(alice.recipient), recipientFingerprint(bob.recipient));
  assert.equal(recipientProblem(alice.recipient), undefined);
  assert.match(recipientProblem(alice.identity) ?? "", /identity \(a private key\)/);
  assert.match(recipientProblem("age1short") ?? "", /not an age X25519 recipient/);
});

void test("256 MiB through encryption and decryption with flat memory, pulled only as fast as the sink takes", async () => {
  const TOTAL = 256 * MiB;
  const CHUNK = 256 * 1024;
  const block = randomBytes(CHUNK);
  let produced = 0;
  let consumed = 0;
  let maxAhead = 0;
  const source = Readable.from(
    (function* () {
      for (let i = 0; i < TOTAL / CHUNK; i++) {
        produced += CHUNK;
        maxAhead = Math.max(maxAhead, produced - consumed);
        yield block;
      }
    })(),
    { objectMode: false, highWaterMark: MiB },
  );
  const plainHash = createHash("sha256");
  const growth = await peakRssGrowth(async () => {
    const cipher = await encryptStream(source, [alice.recipient]);
    const plain = await decryptStream(cipher.stream, aliceLoaded, "big");
    // A slow sink: every 4 MiB it waits a little, so that a bridge without backpressure would pile up chunks.
    let sinceWait = 0;
    await pipeline(
      plain,
      new Writable({
        highWaterMark: MiB,
        write(chunk: Buffer, _e, done) {
          plainHash.update(chunk);
          consumed += chunk.length;
          sinceWait += chunk.length;
          if (sinceWait < 4 * MiB) return done();
          sinceWait = 0;
          setTimeout(done, 2);
        },
      }),
    );
  });
  assert.equal(consumed, TOTAL);
  const expected = createHash("sha256");
  for (let i = 0; i < TOTAL / CHUNK; i++) expected.update(block);
  assert.equal(plainHash.digest("hex"), expected.digest("hex"));
  assert.ok(maxAhead < 16 * MiB, `the source ran ${maxAhead} bytes ahead of the sink`);
  assert.ok(growth < 96 * MiB, `RSS grew by ${Math.round(growth / MiB)} MiB for a 256 MiB stream`);
});
