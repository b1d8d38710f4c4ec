// Pod IPs: each pod gets an address of its own in 127.0.0.0/8 (every one of them reaches this
// machine's loopback interface on Linux), so two pods can both listen on :8888 as in a cluster.
// 127.0.0.x is left alone: that is where everything else on the machine listens.

/**
 * Where this test process starts counting: a random spot, so that two test files running at once
 * (each with its own cluster and agent) are unlikely to hand out the same addresses.
 */
let next = Math.floor(Math.random() * 200) * 254;
const inUse = new Set<string>();

/** An unused 127.0.x.y (x, y in 1..254). */
export function allocatePodIP(): string {
  for (let tries = 0; tries < 254 * 254; tries++) {
    const n = next++ % (254 * 254);
    const ip = `127.0.${1 + Math.floor(n / 254)}.${1 + (n % 254)}`;
    if (!inUse.has(ip)) {
      inUse.add(ip);
      return ip;
    }
  }
  throw new Error('node agent: no free pod IP left in 127.0.1.1-127.0.254.254');
}

export function releasePodIP(ip: string): void {
  inUse.delete(ip);
}
