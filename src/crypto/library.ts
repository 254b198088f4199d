/**
 * The age library, loaded on first use: an agent that never encrypts (most of them) does not pay the module's
 * resident memory, and a CLI command that does not touch keys starts sooner.
 */
import type * as Age from "age-encryption";

type AgeModule = typeof Age;

let loading: Promise<AgeModule> | undefined;

export function ageLibrary(): Promise<AgeModule> {
  loading ??= import("age-encryption");
  return loading;
}
