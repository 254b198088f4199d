/** `lifeboat cert node`: the folder an agent runs from, written from cluster.yml and the state file. */
import { writeAgentBundle } from "../agent/bundle.js";
import type { CliDeps } from "./deps.js";
import { loadConfigAndState } from "../fleet/open.js";

export async function runCertNode(
  options: { config: string; node: string; out: string },
  deps: CliDeps,
): Promise<void> {
  const { config, state } = await loadConfigAndState(options.config, deps.out);
  const dir = await writeAgentBundle({ config, state, memberName: options.node, outDir: options.out });
  deps.out.line(`wrote agent folder ${dir} for ${options.node}; start it with: lifeboat agent --dir ${dir}`);
  deps.out.result({ node: options.node, dir });
}
