/** What a restore, a verify and a rollback share: their options, the confirmation, one node over the agent API. */
import { createInterface } from "node:readline/promises";
import type { AgentClient } from "../agent/client.js";
import type { S3Flags } from "../config/cluster.js";
import type { RestoreNode } from "../restore/apply.js";
import { UserError } from "../util/errors.js";
import type { CliDeps } from "./deps.js";
import type { Sessions } from "./restore-session.js";

export interface RestoreOptions extends S3Flags {
  config: string;
  name?: string;
  local?: boolean;
  fromNode?: string;
  useLocalState?: boolean;
  dryRun?: boolean;
  yes?: boolean;
  rollback?: boolean;
  bumpRevision?: number;
  timeout?: number;
}

/** Asks before anything is fetched or held; without a terminal only --yes confirms. */
export async function confirm(question: string, options: { yes?: boolean | undefined }, deps: CliDeps): Promise<void> {
  if (options.yes) return;
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
  deps.out.line("confirmed");
}

/** One node over the agent API, every step carrying the session id. */
export function restoreNode(name: string, agent: string, client: AgentClient, sessions: Sessions): RestoreNode {
  const enc = encodeURIComponent;
  const long = 900_000;
  const session = sessions.id;
  return {
    name,
    agent,
    fetch: (snapshot, peer, sha256) =>
      client.json("POST", "/v1/restore/fetch", { session, name: snapshot, peer, sha256 }, long),
    digest: (snapshot) => client.json("GET", `/v1/restore/${enc(snapshot)}/digest`, undefined, long),
    stopMember: async () => void (await client.json("POST", "/v1/member/stop", undefined, 120_000)),
    startMember: async (timeoutMs) => void (await client.json("POST", "/v1/member/start", undefined, timeoutMs)),
    apply: (req) => client.json("POST", "/v1/restore/apply", { session, ...req }, long),
    rollback: () => client.json("POST", "/v1/restore/rollback", { session }, 120_000),
    finish: async (snapshot) =>
      (await client.json<{ hooks: [] }>("POST", "/v1/restore/finish", { session, name: snapshot }, long)).hooks,
    health: () => client.json("GET", "/v1/health", undefined, 10_000),
  };
}
