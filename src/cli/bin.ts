#!/usr/bin/env node
import { ExitCode, describeError } from "../util/errors.js";
import { redactText } from "../util/redact.js";
import { main } from "./main.js";

// The AWS SDK warns on every run that its future releases need Node 22; Lifeboat pins a release that runs on 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`internal error: ${redactText(describeError(err))}\n`);
    process.exitCode = ExitCode.failure;
  },
);
