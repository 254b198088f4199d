/**
 * The bytes of a Maintenance.Snapshot call as a plain byte stream.
 *
 * Backpressure: grpc-js reads the next message from HTTP/2 only when its own stream is read, and HTTP/2 flow
 * control then stalls the member. This stream pauses the call whenever its buffer is full, so a slow consumer
 * holds at most a few hundred KiB in memory, whatever the snapshot size.
 */
import type { ClientReadableStream } from "@grpc/grpc-js";
import { Readable } from "node:stream";
import { asBuffer } from "../util/chunks.js";
import { RemoteError } from "../util/errors.js";
import { toRemoteError } from "./grpc-errors.js";
import type { SnapshotResponse } from "./wire.js";

const HIGH_WATER_MARK = 256 * 1024;

/**
 * Wraps a started Snapshot call. The stream ends after the member's last message (the sha256 trailer, sent with
 * remaining_bytes 0) and errors with a RemoteError on a gRPC error or an early end, or with an AbortError when
 * `signal` aborts. Destroying the stream cancels the call.
 */
export function snapshotByteStream(
  call: ClientReadableStream<SnapshotResponse>,
  ctx: { endpoint: string; signal?: AbortSignal },
): Readable {
  return new SnapshotStream(call, ctx.endpoint, ctx.signal);
}

class SnapshotStream extends Readable {
  private finished = false;
  private sawLast = false;
  private answered = false;

  constructor(
    private readonly call: ClientReadableStream<SnapshotResponse>,
    private readonly endpoint: string,
    private readonly signal: AbortSignal | undefined,
  ) {
    super({ highWaterMark: HIGH_WATER_MARK });
    // An abort or a gRPC error can come before the consumer attached (a save first opens its part file): the error is
    // kept (`errored`) and the consumer's first read fails with it (for await, pipeline), instead of it being thrown
    // as an uncaught exception meanwhile, which stopped the agent.
    this.on("error", () => undefined);
    call.once("metadata", () => (this.answered = true));
    call.on("data", (msg: SnapshotResponse) => this.onMessage(msg));
    call.on("end", () => this.onEnd());
    call.on("error", (err) => this.fail(err));
    if (signal?.aborted) queueMicrotask(() => this.abort());
    signal?.addEventListener("abort", this.abort, { once: true });
  }

  override _read(): void {
    this.call.resume();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.signal?.removeEventListener("abort", this.abort);
    if (!this.finished) {
      this.finished = true;
      this.cancelCall();
    }
    callback(err);
  }

  /**
   * A cancel issued before the member has answered is lost in grpc-js: the request still goes out, and the member
   * keeps the snapshot (and its read transaction) open, stalled on flow control, so that it cannot even shut down.
   * Cancel once the answer's headers are in; the call is kept flowing meanwhile so nothing stalls.
   */
  private cancelCall(): void {
    if (this.answered) return this.call.cancel();
    this.call.resume();
    this.call.once("metadata", () => this.call.cancel());
  }

  private onMessage(msg: SnapshotResponse): void {
    if (this.destroyed) return;
    if (msg.remaining_bytes === "0") this.sawLast = true;
    const blob = msg.blob;
    if (blob.length === 0) return;
    const chunk = asBuffer(blob);
    if (!this.push(chunk)) this.call.pause();
  }

  private onEnd(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.sawLast) {
      this.push(null);
      return;
    }
    this.destroy(new RemoteError(`etcd member ${this.endpoint}: snapshot stream ended early`, true));
  }

  private fail(err: Error): void {
    if (this.destroyed) return;
    this.finished = true;
    if (this.signal?.aborted) return this.abort();
    this.destroy(toRemoteError(err, { endpoint: this.endpoint, what: "snapshot" }));
  }

  private readonly abort = (): void => {
    if (this.destroyed) return;
    const reason: unknown = this.signal?.reason;
    const err = new Error(`etcd member ${this.endpoint}: snapshot aborted`, { cause: reason });
    err.name = "AbortError";
    this.destroy(err);
  };
}
