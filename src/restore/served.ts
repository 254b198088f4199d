/**
 * What the serving node hands its peers during a restore (GET /v1/restore/:name/file): the file its prepare offers,
 * the archive while it still arrives or the snapshot a restore to a point built. A peer may ask before the prepare
 * has begun: it waits for the offer (or the prepare's failure) for a bounded time. Everything offered in a session is
 * released when the session ends, so no descriptor keeps a removed file's space.
 */
import { NotFoundError } from "../util/errors.js";
import type { GrowingFile } from "../util/growing-file.js";

/** How long a peer's request waits for the serving node's prepare to offer the file. */
export const OFFER_WAIT_MS = 120_000;

interface Offer {
  promise: Promise<GrowingFile>;
  resolve(file: GrowingFile): void;
  reject(err: Error): void;
  file?: GrowingFile;
}

export class ServedFiles {
  private readonly offers = new Map<string, Offer>();

  /** The file of session `session` for snapshot `name`, as its prepare produces it. */
  offer(session: string, name: string, file: GrowingFile): void {
    let offer = this.slot(session, name);
    if (offer.file) {
      // A prepare run again in the same session: its file replaces the first one.
      void offer.file.release("replaced by a newer prepare");
      this.offers.delete(`${session}/${name}`);
      offer = this.slot(session, name);
    }
    offer.file = file;
    offer.resolve(file);
  }

  /** The prepare failed before it offered anything: whoever waits is told why. */
  fail(session: string, name: string, err: Error): void {
    const offer = this.slot(session, name);
    if (!offer.file) offer.reject(err);
  }

  /** Waits (at most `waitMs`) for the file of `session`'s prepare of `name`. */
  async take(session: string, name: string, waitMs = OFFER_WAIT_MS): Promise<GrowingFile> {
    const offer = this.slot(session, name);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new NotFoundError(`no prepared snapshot ${name} here within ${waitMs / 1000} s`)),
        waitMs,
      );
      timer.unref();
    });
    return Promise.race([offer.promise, timeout]).finally(() => clearTimeout(timer));
  }

  /** Releases everything offered (the session ended); waiting peers are refused. */
  async releaseAll(reason: string): Promise<void> {
    const offers = [...this.offers.values()];
    this.offers.clear();
    for (const o of offers) {
      o.reject(new NotFoundError(`the restore session ended: ${reason}`));
      await o.file?.release(reason);
    }
  }

  private slot(session: string, name: string): Offer {
    const key = `${session}/${name}`;
    let offer = this.offers.get(key);
    if (!offer) {
      let resolve!: (file: GrowingFile) => void;
      let reject!: (err: Error) => void;
      const promise = new Promise<GrowingFile>((res, rej) => ((resolve = res), (reject = rej)));
      promise.catch(() => undefined);
      offer = { promise, resolve, reject };
      this.offers.set(key, offer);
    }
    return offer;
  }
}
