/**
 * The break-glass passphrase (src/crypto/passphrase.ts): the derivation is pinned (a later version must open old
 * backups), a copy encrypted to an X25519 key and the passphrase's recipient opens with the passphrase alone, the
 * passphrase is read from a file's first line or a variable and refused when short or missing (naming where, never
 * printing it), and `any` of several sources uses every one that loads.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, test } from "node:test";
import {
  decryptStream,
  encryptStream,
  generateIdentity,
  loadIdentities,
  recipientFingerprint,
} from "../src/crypto/age.js";
import { deriveIdentity, readPassphrase } from "../src/crypto/passphrase.js";
import { IdentityError } from "../src/util/errors.js";
import { redactText } from "../src/util/redact.js";

const dir = await mkdtemp(join(tmpdir(), "lifeboat-passphrase-"));
after(() => rm(dir, { recursive: true, force: true }));

const PASSPHRASE = "correct horse battery staple, twice";

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

void test("the derivation is pinned: this passphrase gives this recipient, in every version", async () => {
  const { identity, recipient } = await deriveIdentity(PASSPHRASE);
  assert.equal(recipient, "age1s72zxkjvjg5am4quaccq0wn86ss2hcaelwymsfkuftfd86py54dst35z54");
  assert.match(identity, /^AGE-SECRET-KEY-1[0-9A-Z]{58}$/);
  assert.equal(redactText(`key ${identity}`), "key ***", "the derived identity is registered as a secret");
  assert.notEqual((await deriveIdentity(`${PASSPHRASE}!`)).recipient, recipient);
});

void test("a copy encrypted to a key and the passphrase opens with the passphrase alone", async () => {
  const key = await generateIdentity();
  const glass = await deriveIdentity(PASSPHRASE);
  const plain = Buffer.from("etcd snapshot bytes ".repeat(5000));
  const cipher = await encryptStream(Readable.from([plain]), [key.recipient, glass.recipient]);
  const bytes = await collect(cipher.stream);
  const file = join(dir, "passphrase.txt");
  await writeFile(file, `${PASSPHRASE}\n# a second line is not part of it\n`, { mode: 0o600 });
  const loaded = await loadIdentities({ passphraseFile: file });
  assert.deepEqual(loaded.fingerprints, [recipientFingerprint(glass.recipient)]);
  assert.equal(loaded.where, `passphrase file ${file}`);
  assert.ok((await collect(await decryptStream(Readable.from([bytes]), loaded, "copy"))).equals(plain));
  const fromEnv = await loadIdentities({ passphraseEnv: "GLASS" }, { GLASS: PASSPHRASE });
  assert.ok((await collect(await decryptStream(Readable.from([bytes]), fromEnv, "copy"))).equals(plain));
});

void test("a passphrase that is missing, empty or short is refused naming where it was looked for", async () => {
  const missing = join(dir, "nope.txt");
  await assert.rejects(readPassphrase({ passphraseFile: missing }), {
    name: "IdentityError",
    message: `no passphrase: passphrase file ${missing} does not exist`,
  });
  await assert.rejects(
    readPassphrase({ passphraseEnv: "UNSET_GLASS" }, {}),
    /passphrase environment variable UNSET_GLASS is empty or not set/,
  );
  const short = "tooShort1234";
  await assert.rejects(readPassphrase({ passphraseEnv: "G" }, { G: short }), (err: unknown) => {
    assert.ok(err instanceof IdentityError);
    assert.match(err.message, /too short: at least 16 characters/);
    assert.ok(!err.message.includes(short), "the passphrase is not in the message");
    return true;
  });
});

void test("any: every source that loads is used; none loading names them all", async () => {
  const key = await generateIdentity();
  const keyFile = join(dir, "key.txt");
  await writeFile(keyFile, `${key.identity}\n`, { mode: 0o600 });
  const both = await loadIdentities({ any: [{ file: keyFile }, { passphraseEnv: "GLASS" }] }, { GLASS: PASSPHRASE });
  assert.equal(both.identities.length, 2);
  assert.equal(both.where, `file ${keyFile} and passphrase environment variable GLASS`);
  const onlyGlass = await loadIdentities(
    { any: [{ file: join(dir, "lost.key") }, { passphraseEnv: "GLASS" }] },
    {
      GLASS: PASSPHRASE,
    },
  );
  assert.deepEqual(onlyGlass.fingerprints, [recipientFingerprint((await deriveIdentity(PASSPHRASE)).recipient)]);
  await assert.rejects(
    loadIdentities({ any: [{ file: join(dir, "lost.key") }, { passphraseEnv: "GLASS" }] }, {}),
    (err: unknown) => {
      assert.ok(err instanceof IdentityError);
      assert.match(err.message, /lost\.key does not exist; .*GLASS is empty or not set/);
      return true;
    },
  );
});
