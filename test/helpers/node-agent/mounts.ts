// A container's mounts without a container runtime: its process starts as root in a mount namespace
// of its own (util-linux `unshare`), where a short shell prologue binds each volume's directory (and
// each of the image's directories, LocalImage.files) at its path, then becomes the container's user
// (`setpriv`) and runs the command. A path that does not exist on this machine is made inside the
// namespace only: the nearest existing directory above it gets an overlay whose upper layer lives in
// the pod's directory, so nothing is ever created in the machine's own /etc or /srv.
import { existsSync, mkdirSync, mkdtempSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface Mount {
  /** Host directory (or file) to show. */
  source: string;
  /** Absolute path inside the container. */
  target: string;
  readOnly: boolean;
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

function nearestExisting(path: string): string {
  let dir = path;
  while (!existsSync(dir)) dir = dirname(dir);
  return realpathSync(dir);
}

/**
 * The argv that runs `argv` with `mounts` in place, as `uid`:`gid` with `groups` (the agent runs as
 * root). `scratch` is a directory of the pod's where the overlays' layers go.
 */
export function withMounts(argv: string[], mounts: Mount[], user: { uid: number; gid: number; groups: number[] }, scratch: string): string[] {
  const lines = ['set -e'];
  const within = (path: string, dir: string) => path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
  // Overlays first, while everything they refer to is still in sight.
  const overlaid = new Set<string>();
  for (const mount of mounts) {
    if (existsSync(mount.target)) continue;
    const base = nearestExisting(mount.target);
    if (overlaid.has(base)) continue;
    overlaid.add(base);
    mkdirSync(scratch, { recursive: true });
    const layers = mkdtempSync(join(scratch, 'overlay-'));
    mkdirSync(join(layers, 'upper'));
    mkdirSync(join(layers, 'work'));
    lines.push(`mount -t overlay overlay -o ${quote(`lowerdir=${base},upperdir=${join(layers, 'upper')},workdir=${join(layers, 'work')}`)} ${quote(base)}`);
  }
  // Then the binds, parents before children; a target that would hide another mount's source (a
  // volume at /tmp, where the pod's directories are) goes after the mounts that still need to see it.
  const hides = (m: Mount) => mounts.some((other) => other !== m && within(other.source, m.target));
  const ordered = [...mounts].sort((a, b) => Number(hides(a)) - Number(hides(b)) || a.target.length - b.target.length);
  for (const mount of ordered) {
    lines.push(`mkdir -p ${quote(mount.target)}`);
    lines.push(`mount --bind ${quote(mount.source)} ${quote(mount.target)}`);
    if (mount.readOnly) lines.push(`mount -o remount,bind,ro ${quote(mount.target)}`);
  }
  const groups = user.groups.length ? `--groups ${[...new Set(user.groups)].join(',')}` : '--clear-groups';
  lines.push(`exec setpriv --reuid ${user.uid} --regid ${user.gid} ${groups} -- "$@"`);
  return ['unshare', '--mount', '--propagation', 'private', '--', '/bin/sh', '-c', lines.join('\n'), 'container', ...argv];
}
