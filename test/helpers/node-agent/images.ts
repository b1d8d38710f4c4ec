// What stands in for container images: a table from image name to a local environment.

/** How a container of one image runs here. Every field is optional. */
export interface LocalImage {
  /** Put before PATH (e.g. the bin directory of a Python environment). */
  pathPrefix?: string[];
  /** The image's own environment (its ENV lines); the pod's env overrides it. */
  env?: Record<string, string>;
  /** The image's ENTRYPOINT, used when the container gives no `command`. */
  entrypoint?: string[];
  /** The image's CMD, used when the container gives neither `command` nor `args`. */
  cmd?: string[];
  /** The image's USER as a uid (what runAsNonRoot checks; 0 when unset, as for an image without USER). */
  uid?: number;
  /** The image's USER group as a gid (0 when unset). */
  gid?: number;
  /**
   * The image's own directories, as container path -> host directory (e.g. '/opt/refinery' -> the
   * repository), shown read-only; only on an agent that mounts volumes.
   */
  files?: Record<string, string>;
}

/** Image name exactly as written in the pod (e.g. "quay.io/refinery/notebook:1.2") -> local stand-in. */
export type ImageTable = Record<string, LocalImage>;

/** kubelet's default pull policy: Always for :latest or no tag, IfNotPresent otherwise. */
export function defaultPullPolicy(image: string): 'Always' | 'IfNotPresent' {
  if (image.includes('@')) return 'IfNotPresent';
  const lastPart = image.slice(image.lastIndexOf('/') + 1);
  const tag = lastPart.includes(':') ? lastPart.slice(lastPart.indexOf(':') + 1) : '';
  return tag === '' || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

/** The error a container runtime gives for an image no registry has, naming this agent's table. */
export function imageNotFoundMessage(image: string): string {
  return (
    `rpc error: code = NotFound desc = failed to pull and unpack image "${image}": ` +
    `failed to resolve reference "${image}": ${image}: not found (not in this node agent's image table)`
  );
}
