/**
 * `node dist/bench/tools/compress.js <snapshot file> <store|deflate> [level|""] [threads]`: runs Lifeboat's archive writer
 * (trailer check, sha256, CRC-32, deflate) over a snapshot file and discards the archive, so that the benchmark can
 * time one compression setting as a whole process. Prints `{"inputBytes":n,"outputBytes":n}`.
 */
import { createReadStream } from "node:fs";
import { writeSnapshotArchive } from "../../src/archive/rke.js";

async function main(argv: string[]): Promise<void> {
  const [file, method, level, threads] = argv;
  if (!file || (method !== "store" && method !== "deflate")) {
    throw new Error('usage: compress.js <snapshot file> <store|deflate> [level|""] [threads]');
  }
  const archive = writeSnapshotArchive({
    name: "bench",
    snapshot: createReadStream(file, { highWaterMark: 1 << 20 }),
    method,
    level: level === undefined || level === "" ? undefined : Number(level),
    threads: threads === undefined ? 1 : Number(threads),
  });
  let outputBytes = 0;
  for await (const chunk of archive.output as AsyncIterable<Buffer>) outputBytes += chunk.length;
  const done = await archive.done;
  process.stdout.write(JSON.stringify({ inputBytes: done.snapshotSize, outputBytes }) + "\n");
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
