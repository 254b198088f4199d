/** The operator's confirmation on a terminal: asked before anything is fetched or held; without one only --yes. */
import { createInterface } from "node:readline/promises";
import { UserError } from "../util/errors.js";
import type { Output } from "./output.js";

export function terminalConfirm(out: Output): (question: string, yes: boolean | undefined) => Promise<void> {
  return async (question, yes) => {
    if (yes) return;
    if (!process.stdin.isTTY)
      throw new UserError(
        "this stops every etcd member: pass --yes to confirm (stdin is not a terminal); nothing was changed",
      );
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      const answer = await rl.question(`${question} Type yes: `);
      if (answer.trim() !== "yes") throw new UserError("not confirmed: nothing was changed");
    } finally {
      rl.close();
    }
    out.line("confirmed");
  };
}
