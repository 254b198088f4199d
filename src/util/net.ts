/** Loopback helpers: every address Lifeboat's sandbox and tests bind is inside 127.0.0.0/8. */
import { createServer } from "node:net";

/** True when `host:port` can be bound right now. */
export async function isPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** True for an IPv4 address in 127.0.0.0/8. */
export function isLoopbackV4(host: string): boolean {
  return /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(host) && host.split(".").every((p) => Number(p) <= 255);
}

/**
 * Picks `count` consecutive loopback addresses 127.A.B.(C..C+count-1) at random whose `ports` are all free,
 * so that concurrent sandboxes and test files never collide.
 */
export async function allocateLoopbackHosts(count: number, ports: readonly number[]): Promise<string[]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const a = 1 + Math.floor(Math.random() * 250);
    const b = Math.floor(Math.random() * 256);
    const c = 2 + Math.floor(Math.random() * (250 - count));
    const hosts = Array.from({ length: count }, (_, i) => `127.${a}.${b}.${c + i}`);
    const free = await Promise.all(hosts.flatMap((h) => ports.map((p) => isPortFree(h, p))));
    if (free.every(Boolean)) return hosts;
  }
  throw new Error(`no free loopback addresses for ports ${ports.join(",")}`);
}
