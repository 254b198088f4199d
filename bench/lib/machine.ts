/** The machine a result was measured on, as the results file records it. */
import { readFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem } from "node:os";

export function machineInfo(etcdVersion: string): Record<string, string | number> {
  return {
    cpu: cpus()[0]?.model.trim() ?? "unknown",
    cores: cpus().length,
    memory: `${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    os: `${osName()} (Linux ${release()})`,
    node: process.version,
    etcd: etcdVersion,
    loadStart: load(),
  };
}

export function load(): string {
  return loadavg()[0]!.toFixed(2);
}

function osName(): string {
  try {
    return /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync("/etc/os-release", "utf8"))?.[1] ?? "Linux";
  } catch {
    return "Linux";
  }
}
