/** The small values of the agent API: names, ids, stamps, digests, addresses; each has one schema. */
import { z } from "zod";
import { validateSnapshotName } from "../archive/names.js";

/**
 * A snapshot name as it arrives over the network: the same rule as for operator input (one safe path segment), but
 * recurring-style names are allowed (the scheduler made them). Every route that takes a name parses it with this.
 */
export const SnapshotName = z
  .string()
  .superRefine((name, ctx) => {
    const why = validateSnapshotName(name, { allowRecurring: true });
    if (why) ctx.addIssue({ code: "custom", message: `invalid snapshot name ${JSON.stringify(name)}: ${why}` });
  })
  .describe("snapshot name");

/** A restore session's id, chosen by the CLI. */
export const SessionId = z.string().regex(/^[0-9a-z-]{8,64}$/, "a session id is 8-64 of [0-9a-z-]");

/** A restore stamp (also part of data directory names), e.g. 20261127T101502Z. */
export const Stamp = z.string().regex(/^[0-9A-Za-z]{1,40}$/, "a stamp is 1-40 letters and digits");

export const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);

export const HostPort = z
  .string()
  .regex(/^[0-9A-Za-z.-]{1,253}:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, "expected host:port");
