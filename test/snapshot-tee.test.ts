/**
 * The save pipeline's tee when its source fails early: an aborted snapshot stream can fail before a consumer has
 * started reading (a local put still creating its directory, S3 still loading its SDK). The tee must reject with the
 * source's error, every consumer must see that error rather than a clean end, and nothing may surface as an
 * unhandled 'error' event (that crashed a stopping agent).
 */
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { tee, type TeeConsumer } from "../src/snapshot/tee.js";

function abortedSource(): Readable {
  const err = new Error("snapshot aborted: the agent is stopping");
  err.name = "AbortError";
  return new Readable({
    read() {
      this.destroy(err);
    },
  });
}

test("a source that fails before the consumers read fails the tee, and every consumer sees the error", async () => {
  const seen: unknown[] = [];
  const lateReader = (optional: boolean): TeeConsumer<string> => ({
    optional,
    run: async (input) => {
      await sleep(50);
      try {
        for await (const _ of input) void _;
      } catch (err) {
        seen.push(err);
        throw err;
      }
      return "stored";
    },
  });
  await assert.rejects(tee(abortedSource(), [lateReader(false), lateReader(true)]), { name: "AbortError" });
  assert.equal(seen.length, 2, "both consumers failed instead of storing a truncated body");
  // Give a stray 'error' event time to surface; node:test fails the test on an uncaught exception.
  await sleep(50);
});
