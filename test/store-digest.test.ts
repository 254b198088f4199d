import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { StreamDigest, expectedEtags } from "../src/store/digest.js";

const md5 = (b: Uint8Array) => createHash("md5").update(b).digest();

void describe("StreamDigest and expectedEtags", () => {
  void it("cuts parts at fixed boundaries whatever the chunking", () => {
    const partSize = 1000;
    const data = randomBytes(3 * partSize + 17);
    const d = new StreamDigest(partSize);
    for (const size of [1, 999, 1500, 3, 517]) d.update(data.subarray(d.bytes, d.bytes + size));
    assert.equal(d.bytes, data.length);
    const out = d.digest();
    const parts = [0, 1, 2, 3].map((i) => md5(data.subarray(i * partSize, (i + 1) * partSize)));
    assert.deepEqual(out.partMd5s, parts);
    assert.equal(out.md5Hex, md5(data).toString("hex"));
    assert.equal(out.sha256Hex, createHash("sha256").update(data).digest("hex"));
  });

  void it("has no empty trailing part when the size is an exact multiple", () => {
    const d = new StreamDigest(10);
    d.update(randomBytes(20));
    assert.equal(d.digest().partMd5s.length, 2);
    assert.equal(new StreamDigest(10).digest().partMd5s.length, 0);
  });

  void it("expects the body MD5 for one part, and S3's MD5-of-part-MD5s-N (or the body MD5) for several", () => {
    const data = randomBytes(25);
    const d = new StreamDigest(10);
    d.update(data);
    const out = d.digest();
    const parts = [data.subarray(0, 10), data.subarray(10, 20), data.subarray(20)].map(md5);
    const aws = `${createHash("md5").update(Buffer.concat(parts)).digest("hex")}-3`;
    assert.deepEqual(expectedEtags(out, 10), [aws, md5(data).toString("hex")]);
    assert.deepEqual(expectedEtags(out, 25), [md5(data).toString("hex")]);
  });
});
