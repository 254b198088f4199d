/**
 * `npm run bench [-- --size 512MiB --runs 3 --cases save,rke,s3,memory,restore,list,compression --out bench/results]`
 * Runs the benchmark (bench.ts), writes bench/results/<date>.json and <date>.md, and prints the markdown.
 * Not part of `npm test`: it takes minutes and wants a quiet machine.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { runBench } from "./bench.js";
import { parseBenchArgs, USAGE } from "./lib/args.js";
import { renderMarkdown } from "./lib/report.js";
import { stopAllSandboxes } from "./lib/sandbox.js";

async function main(argv: string[]): Promise<number> {
  let options;
  try {
    options = parseBenchArgs(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const started = Date.now();
  const log = (line: string) => {
    const s = Math.round((Date.now() - started) / 1000);
    process.stderr.write(
      `[${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}] ${line}\n`,
    );
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping the sandboxes`);
      void stopAllSandboxes().finally(() => process.exit(130));
    });
  }
  const command = ["npm run bench", ...(argv.length ? ["--", ...argv] : [])].join(" ");
  const result = await runBench(options, command, log);
  const out = resolve(options.out);
  await mkdir(out, { recursive: true });
  const stamp = result.date.slice(0, 16).replace(/:/g, "");
  const markdown = renderMarkdown(result);
  await writeFile(join(out, `${stamp}.json`), JSON.stringify(result, null, 2) + "\n");
  await writeFile(join(out, `${stamp}.md`), markdown);
  process.stdout.write(`\n${markdown}\nwritten: ${join(options.out, `${stamp}.json`)} and .md\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
