// What a container runs as: its command line (with $(VAR) expanded), environment, working
// directory and user, worked out as the kubelet and the runtime would before creating it.
import { chownSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { containerEnv, ContainerConfigError, expand, type EnvContext } from './env.js';
import { withMounts, type Mount } from './mounts.js';
import type { PodVolumes } from './volumes.js';

export interface ContainerConfig {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  /** Set when the agent runs as root and so can run the process as runAsUser. */
  uid?: number;
  gid?: number;
}

/**
 * `podDir` is the pod's directory: <podDir>/home is HOME (shared by the pod's containers, like an
 * emptyDir), <podDir>/rootfs stands in for the image's filesystem (a workingDir is made there).
 * With `volumes` (an agent that mounts), the container's volumeMounts and the image's files are in
 * place for its process (mounts.ts).
 * Throws ContainerConfigError (CreateContainerConfigError) or Error (CreateContainerError).
 */
export async function containerConfig(pod: V1Pod, spec: V1Container, podDir: string, ctx: Omit<EnvContext, 'pod' | 'home'>, volumes?: PodVolumes): Promise<ContainerConfig> {
  const { image } = ctx;
  const podSecurity = pod.spec?.securityContext ?? {};
  const sec = spec.securityContext ?? {};
  const uid = sec.runAsUser ?? podSecurity.runAsUser ?? image.uid ?? 0;
  const gid = sec.runAsGroup ?? podSecurity.runAsGroup ?? image.gid ?? 0;
  if ((sec.runAsNonRoot ?? podSecurity.runAsNonRoot) && uid === 0) {
    const podRef = `${pod.metadata?.name}_${pod.metadata?.namespace}(${pod.metadata?.uid})`;
    throw new ContainerConfigError(`container has runAsNonRoot and image will run as root (pod: "${podRef}", container: ${spec.name})`);
  }
  const home = join(podDir, 'home');
  const { env, vars } = await containerEnv(spec, { ...ctx, pod, home });
  const command = spec.command ?? image.entrypoint ?? [];
  const args = spec.args ?? (spec.command ? [] : (image.cmd ?? []));
  const argv = [...command, ...args].map((a) => expand(a, vars));
  if (argv.length === 0) throw new Error(`failed to generate container "${spec.name}" spec: no command specified`);
  const cwd = spec.workingDir ? join(podDir, 'rootfs', spec.workingDir) : home;
  mkdirSync(cwd, { recursive: true });
  // Only root can run a process as another user; then that user must own its directories.
  const asRoot = process.getuid?.() === 0;
  if (asRoot && uid !== 0) for (const d of [podDir, home, cwd]) chownSync(d, uid, gid);
  const mounts = volumes ? mountsOf(spec, volumes, image.files ?? {}) : [];
  if (mounts.length && asRoot) {
    const groups = [gid, ...(podSecurity.fsGroup !== undefined ? [podSecurity.fsGroup] : []), ...(podSecurity.supplementalGroups ?? [])];
    return { argv: withMounts(argv, mounts, { uid, gid, groups }, join(podDir, 'overlays', spec.name)), env, cwd };
  }
  return { argv, env, cwd, ...(asRoot ? { uid, gid } : {}) };
}

function mountsOf(spec: V1Container, volumes: PodVolumes, files: Record<string, string>): Mount[] {
  const mounts: Mount[] = Object.entries(files).map(([target, source]) => ({ source, target, readOnly: true }));
  for (const m of spec.volumeMounts ?? []) {
    const dir = volumes.get(m.name);
    if (!dir) throw new ContainerConfigError(`volume "${m.name}" of mount ${m.mountPath} is not in the pod's volumes`);
    mounts.push({ source: m.subPath ? join(dir, m.subPath) : dir, target: m.mountPath, readOnly: m.readOnly ?? false });
  }
  return mounts;
}
