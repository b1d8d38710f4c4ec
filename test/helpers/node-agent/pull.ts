// "Pulling" an image: looking it up in the agent's image table, with the kubelet's pull policies,
// events, waiting reasons (ErrImagePull, then ImagePullBackOff while it backs off) and back-off.
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import type { EventRecorder } from './events.js';
import { defaultPullPolicy, imageNotFoundMessage, type ImageTable, type LocalImage } from './images.js';

export interface PullState {
  /** No new pull attempt before this (ms since the epoch). */
  retryAt: number;
  backoffMs: number;
  lastError?: string;
}

export type PullOutcome =
  | { ok: true; image: LocalImage }
  /** `retryAt`: when to look again (the switch to ImagePullBackOff, or the next attempt). */
  | { ok: false; reason: 'ErrImagePull' | 'ImagePullBackOff' | 'ErrImageNeverPull'; message: string; retryAt: number };

export interface PullSettings {
  images: ImageTable;
  events: EventRecorder;
  /** The first pull back-off; kubelet: 10 s, doubling up to 300 s. */
  backoffMs: number;
  maxBackoffMs: number;
}

export function pullImage(pod: V1Pod, container: V1Container, state: PullState, s: PullSettings): PullOutcome {
  const imageName = container.image ?? '';
  const policy = container.imagePullPolicy ?? defaultPullPolicy(imageName);
  const image = Object.hasOwn(s.images, imageName) ? s.images[imageName] : undefined;
  const now = Date.now();
  const record = (type: 'Normal' | 'Warning', reason: string, message: string): void =>
    s.events.record(pod, container.name, type, reason, message);

  if (image && policy !== 'Always') {
    record('Normal', 'Pulled', `Container image "${imageName}" already present on machine`);
    return { ok: true, image };
  }
  if (policy === 'Never') {
    const message = `Container image "${imageName}" is not present with pull policy of Never`;
    record('Warning', 'ErrImageNeverPull', message);
    record('Warning', 'Failed', 'Error: ErrImageNeverPull');
    return { ok: false, reason: 'ErrImageNeverPull', message, retryAt: now + s.backoffMs };
  }
  if (now < state.retryAt) {
    const message = `Back-off pulling image "${imageName}"`;
    record('Normal', 'BackOff', message);
    record('Warning', 'Failed', 'Error: ImagePullBackOff');
    return { ok: false, reason: 'ImagePullBackOff', message: `${message}: ${state.lastError ?? ''}`, retryAt: state.retryAt };
  }
  record('Normal', 'Pulling', `Pulling image "${imageName}"`);
  if (image) {
    state.backoffMs = 0;
    record('Normal', 'Pulled', `Successfully pulled image "${imageName}" in 1ms (1ms including waiting). Image size: 0 bytes.`);
    return { ok: true, image };
  }
  const error = imageNotFoundMessage(imageName);
  record('Warning', 'Failed', `Failed to pull image "${imageName}": ${error}`);
  record('Warning', 'Failed', 'Error: ErrImagePull');
  state.backoffMs = state.backoffMs === 0 ? s.backoffMs : Math.min(state.backoffMs * 2, s.maxBackoffMs);
  state.retryAt = now + state.backoffMs;
  state.lastError = `ErrImagePull: ${error}`;
  // Look again soon: the next sync is the one that reports ImagePullBackOff, as the kubelet's does.
  return { ok: false, reason: 'ErrImagePull', message: error, retryAt: Math.min(state.retryAt, now + 1000) };
}
