/**
 * The environment every agent process starts with, whoever starts it (the systemd unit, plain mode's shell, the
 * sandbox): one list, so that the three cannot drift apart.
 *
 * MALLOC_MMAP_THRESHOLD_: glibc serves allocations of at least this many bytes with their own mapping, returned to
 * the kernel when freed. Without it glibc raises its threshold to the largest block freed so far, so after the first
 * save every 1 MiB block buffer comes from the heap, and freed ones stay resident. Together with the deflate on
 * libuv's thread pool (archive/parallel-deflate.ts), it took the agent's peak during a local save of a 520 MiB member
 * from 235 to 188 MiB, and its idle size after saves from 208 to 154 MiB (bench/results/2026-12-06T0829.md); one
 * process deflating a 300 MiB file on two threads peaks at 81 MiB with it and 94 MiB without.
 */
export const AGENT_PROCESS_ENV: Readonly<Record<string, string>> = {
  MALLOC_MMAP_THRESHOLD_: "131072",
};

/** `NAME=value` words (the values are plain: no quoting is needed in a unit file or a shell). */
export function agentEnvWords(): string {
  return Object.entries(AGENT_PROCESS_ENV)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
}
