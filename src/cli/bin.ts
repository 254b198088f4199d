#!/usr/bin/env node
import { ExitCode, describeError } from "../util/errors.js";
import { redactText } from "../util/redact.js";
import { main } from "./main.js";

// The AWS SDK warns on every run that its future releases need Node 22; Lifeboat pins a release that runs on 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

// A reader that went away (`lifeboat ... | head -1`) stops the output, not the command: a restore or a save piped
// into a pager that quit still runs to its end and exits with its own code. Any other output error still fails.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE" && err.code !== "ERR_STREAM_DESTROYED") throw err;
  });
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`internal error: ${redactText(describeError(err))}\n`);
    process.exitCode = ExitCode.failure;
  },
);
