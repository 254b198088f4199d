/**
 * The progress renderer (src/cli/progress.ts) through the real Output (src/cli/output.ts) on fake terminals and
 * pipes, with a clock moved by hand: what a terminal shows (one redrawn line per task, cleared before other output)
 * and what a log gets (a plain line per task at most every 5 s, and one when it ends, on stderr only).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createOutput, type Writable } from "../src/cli/output.js";
import { ProgressBoard } from "../src/cli/progress.js";

const MiB = 1024 * 1024;

function streams(tty: boolean) {
  const seen = { stdout: "", stderr: "" };
  const stdout: Writable = { write: (c: string) => (seen.stdout += c), isTTY: tty };
  const stderr: Writable = { write: (c: string) => (seen.stderr += c), isTTY: tty };
  return { seen, stdout, stderr };
}

function clock() {
  let now = 1_000_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe("progress renderer", () => {
  it("a log (no terminal) gets a plain line per task at most every 5 s, and a line when each ends", () => {
    const { seen, stdout, stderr } = streams(false);
    const out = createOutput("text", stdout, stderr);
    assert.equal(out.live, false);
    const c = clock();
    const board = new ProgressBoard(out, c.now);
    board.update("etcd-node1", { step: "save", done: 0 });
    board.update("etcd-node2", { step: "save", done: 0 });
    c.advance(1000);
    board.update("etcd-node1", { step: "save", done: 10 * MiB, total: 40 * MiB });
    assert.equal(seen.stderr, "", "nothing before 5 s");
    c.advance(4000);
    board.update("etcd-node1", { step: "save", done: 20 * MiB, total: 40 * MiB });
    // 20 MiB in the 5 s since bytes began: 4 MiB/s, 20 MiB left: 5 s.
    assert.equal(
      seen.stderr,
      "etcd-node1 save: 20.0 MiB of 40.0 MiB (50%), 4.0 MiB/s, ETA 5.0 s\n" + "etcd-node2 save: 0 B\n",
    );
    seen.stderr = "";
    c.advance(1000);
    board.update("etcd-node1", { step: "save", done: 24 * MiB, total: 40 * MiB });
    assert.equal(seen.stderr, "", "the next round waits 5 s again");
    board.update("etcd-node2", { step: "save", note: "waiting for 2026-01-01T00:00:00Z_etcd to finish" });
    c.advance(4000);
    board.end("etcd-node1", true, 41 * MiB);
    assert.equal(seen.stderr, "etcd-node1 save: 41.0 MiB of 41.0 MiB (100%) in 10.0 s, 4.1 MiB/s\n");
    seen.stderr = "";
    c.advance(1000);
    board.update("etcd-node2", { step: "save", done: 1 * MiB, total: 2 * MiB, note: undefined });
    assert.equal(
      seen.stderr,
      "etcd-node2 save: 1.0 MiB of 2.0 MiB (50%), 93.1 KiB/s, ETA 11.0 s\n",
      "1 MiB in the 11 s since its bytes began; an ended task is not repeated",
    );
    seen.stderr = "";
    c.advance(500);
    board.end("etcd-node2", false);
    assert.equal(seen.stderr, "etcd-node2 save: failed after 11.5 s (1.0 MiB of 2.0 MiB (50%))\n");
    board.end("etcd-node2", false);
    assert.equal(seen.stderr.split("\n").length, 2, "a task ends once");
    assert.equal(seen.stdout, "", "progress never reaches stdout");
  });

  it("a step without bytes shows its phase and elapsed time; a new step restarts the clock", () => {
    const { seen, stdout, stderr } = streams(false);
    const out = createOutput("json", stdout, stderr);
    const c = clock();
    const board = new ProgressBoard(out, c.now, 1000);
    board.update("etcd-node1", { step: "download", done: 0, total: 8 * MiB });
    c.advance(2000);
    board.update("etcd-node1", { step: "download", done: 8 * MiB, total: 8 * MiB });
    board.end("etcd-node1", true);
    board.update("etcd-node1", { step: "rebuild" });
    c.advance(12_300);
    board.update("etcd-node1", { step: "rebuild" });
    board.end("etcd-node1", true);
    assert.deepEqual(seen.stderr.trimEnd().split("\n"), [
      "etcd-node1 download: 8.0 MiB of 8.0 MiB (100%), 4.0 MiB/s",
      "etcd-node1 download: 8.0 MiB of 8.0 MiB (100%) in 2.0 s, 4.0 MiB/s",
      "etcd-node1 rebuild: 12.3 s",
      "etcd-node1 rebuild: done in 12.3 s",
    ]);
    assert.equal(seen.stdout, "", "-o json keeps stdout for the result");
  });

  it("--quiet silences plain progress lines", () => {
    const { seen, stdout, stderr } = streams(false);
    const out = createOutput("text", stdout, stderr, { quiet: true });
    const c = clock();
    const board = new ProgressBoard(out, c.now);
    board.update("n", { step: "save", done: 0 });
    c.advance(6000);
    board.update("n", { step: "save", done: 5 });
    board.end("n", true, 5);
    assert.equal(seen.stderr, "");
  });

  it("a terminal gets one redrawn line per task, cleared before the command's own output", () => {
    const { seen, stdout, stderr } = streams(true);
    const out = createOutput("text", stdout, stderr);
    assert.equal(out.live, true);
    const c = clock();
    const board = new ProgressBoard(out, c.now);
    board.update("etcd-node1", { step: "save", done: 0, total: 4 * MiB });
    assert.equal(seen.stderr, "etcd-node1 save: 0 B of 4.0 MiB (0%)");
    board.update("etcd-node2", { step: "save", done: 0 });
    // One line on screen: cleared, then both drawn.
    assert.equal(seen.stderr.slice("etcd-node1 save: 0 B of 4.0 MiB (0%)".length), "\r\x1b[K" + lines2(0));
    seen.stderr = "";
    c.advance(2000);
    board.update("etcd-node1", { step: "save", done: 2 * MiB, total: 4 * MiB });
    // Two lines on screen: the cursor goes up one, each is erased, then both are drawn again.
    assert.equal(
      seen.stderr,
      "\r\x1b[K\x1b[1A\x1b[K" + "etcd-node1 save: 2.0 MiB of 4.0 MiB (50%), 1.0 MiB/s, ETA 2.0 s\netcd-node2 save: 0 B",
    );
    seen.stderr = "";
    out.line("NODE  RESULT");
    assert.equal(seen.stderr, "\r\x1b[K\x1b[1A\x1b[K", "the block is erased before a line");
    assert.equal(seen.stdout, "NODE  RESULT\n");
    seen.stderr = "";
    out.note("a warning");
    assert.equal(seen.stderr, "a warning\n", "nothing is left to erase");
  });

  it("on a terminal with -o json, or with stdout piped, progress is plain lines", () => {
    for (const [format, stdoutTty] of [
      ["json", true],
      ["text", false],
    ] as const) {
      const { seen, stderr } = streams(true);
      const out = createOutput(format, { write: () => true, isTTY: stdoutTty }, stderr);
      assert.equal(out.live, false, `${format}, stdout a terminal: ${stdoutTty}`);
      const board = new ProgressBoard(out, clock().now);
      board.update("n", { step: "save", done: 0 });
      board.end("n", true, 3);
      assert.equal(seen.stderr, "n save: 3 B of 3 B (100%) in 0 ms\n");
    }
  });
});

function lines2(done: number): string {
  return `etcd-node1 save: ${done} B of 4.0 MiB (0%)\netcd-node2 save: 0 B`;
}
