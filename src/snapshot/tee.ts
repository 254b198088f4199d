/**
 * Feeds one byte stream to several consumers with backpressure: the source is read only as fast as the
 * slowest healthy consumer takes it. A consumer marked `optional` (an S3 upload) may fail without stopping
 * the others: it is detached and its error reported; a required consumer's failure fails the whole tee.
 */
import { createHash } from "node:crypto";
import { PassThrough, type Readable } from "node:stream";
import { chunksOf } from "../util/chunks.js";

export interface TeeConsumer<T> {
  /** Consumes the stream it is given; resolves when everything is stored. */
  run(input: Readable): Promise<T>;
  optional?: boolean;
}

export type TeeOutcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

export interface TeeResult<T> {
  outcomes: TeeOutcome<T>[];
  bytes: number;
  sha256: string;
}

export async function tee<T>(
  source: Readable | AsyncIterable<Uint8Array>,
  consumers: readonly TeeConsumer<T>[],
  onProgress?: (bytes: number) => void,
): Promise<TeeResult<T>> {
  const hash = createHash("sha256");
  const lanes = consumers.map((c) => {
    const input = new PassThrough({ highWaterMark: 1 << 20 });
    // A failed source destroys every lane with its error, possibly before the consumer has started reading (a local
    // put still creating its directory, S3 loading its SDK). The tee throws that error itself and the consumer sees
    // it when it reads, so the lane's own 'error' event must not go unheard and crash the process.
    input.on("error", () => undefined);
    const lane = {
      consumer: c,
      input,
      failed: false,
      error: undefined as unknown,
      done: undefined as unknown as Promise<T>,
    };
    lane.done = c.run(input).catch((err: unknown) => {
      lane.failed = true;
      lane.error = err;
      input.destroy();
      throw err;
    });
    lane.done.catch(() => undefined);
    return lane;
  });
  let bytes = 0;
  try {
    for await (const chunk of chunksOf(source)) {
      hash.update(chunk);
      bytes += chunk.length;
      for (const lane of lanes) {
        if (lane.failed) {
          if (!lane.consumer.optional) throw lane.error;
          continue;
        }
        if (!lane.input.write(chunk)) await drainOrFail(lane.input, lane.done);
      }
      onProgress?.(bytes);
    }
  } catch (err) {
    for (const lane of lanes) lane.input.destroy(err instanceof Error ? err : new Error(String(err)));
    await Promise.allSettled(lanes.map((l) => l.done));
    throw err;
  }
  for (const lane of lanes) if (!lane.failed) lane.input.end();
  const outcomes: TeeOutcome<T>[] = [];
  for (const lane of lanes) {
    try {
      outcomes.push({ ok: true, value: await lane.done });
    } catch (error) {
      if (!lane.consumer.optional) throw error;
      outcomes.push({ ok: false, error });
    }
  }
  return { outcomes, bytes, sha256: hash.digest("hex") };
}

function drainOrFail(stream: PassThrough, done: Promise<unknown>): Promise<void> {
  return new Promise((resolve) => {
    const finish = () => {
      stream.off("drain", finish);
      stream.off("close", finish);
      resolve();
    };
    stream.once("drain", finish);
    stream.once("close", finish);
    done.then(finish, finish);
  });
}
