/**
 * `lifeboat ... | head -1`: a reader that goes away stops the output, not the command. Before, the first write after
 * the pipe closed crashed the process with an unhandled EPIPE and a stack trace on stderr.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { test } from "node:test";
import { BIN } from "./helpers/cli.js";

for (const args of [["--help"], ["etcd", "snapshot-list", "--help"]]) {
  test(`lifeboat ${args.join(" ")} into a pipe that was closed exits quietly with its own code`, async () => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    // The read end closes before the program writes anything (it takes far longer to start).
    child.stdout.destroy();
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    const [code] = (await once(child, "exit")) as [number | null];
    assert.doesNotMatch(stderr, /EPIPE|Unhandled|at /, stderr);
    assert.equal(code, 0, stderr);
  });
}
