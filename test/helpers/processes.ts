// Looking at the processes a test's servers left behind, through /proc.
import { readdirSync, readFileSync } from 'node:fs';

/** Pids of live processes whose environment has NAME=value (a server and its kernels carry REFINERY_SPAWN_ID). */
export function processesWithEnv(name: string, value: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (!readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0').includes(`${name}=${value}`)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      if (/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3))) continue; // zombies are dead
      found.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
  } catch {
    return false;
  }
}

/** Kill (by pid) whatever server processes of this hub's data dir are still alive; returns what it found. */
export function killLeftovers(dataDir: string): number[] {
  // servers (and their kernels) carry the spawner's marker; cluster processes the cluster backends'
  const pids = [...new Set([...processesWithEnv('REFINERY_SPAWNER_DATA_DIR', dataDir), ...processesWithEnv('REFINERY_CLUSTER_SCOPE', dataDir)])];
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return pids;
}
