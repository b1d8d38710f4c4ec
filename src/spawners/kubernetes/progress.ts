/**
 * What a starting pod tells a person: its events (the scheduler's and the kubelet's) as progress
 * messages, and, when it cannot get further by itself, why, in words they can act on.
 */
import type { CoreV1Event, V1ContainerStatus, V1Pod } from '@kubernetes/client-node';

/** Progress figure reached with each event reason (never decreasing: the caller keeps the maximum). */
const STEPS: Record<string, number> = {
  FailedScheduling: 10,
  Scheduled: 20,
  Pulling: 30,
  Pulled: 45,
  Created: 55,
  Started: 65,
};

export interface ProgressStep {
  progress: number;
  message: string;
}

/** An event of the server's pod as a progress step, or null for events not worth showing. */
export function eventStep(event: CoreV1Event): ProgressStep | null {
  const reason = event.reason ?? '';
  const message = (event.message ?? '').trim();
  if (reason === 'Scheduled') return { progress: STEPS.Scheduled!, message: `Pod scheduled: ${message}` };
  if (reason === 'FailedScheduling') return { progress: STEPS.FailedScheduling!, message: `Waiting for a node: ${message}` };
  if (reason in STEPS) return { progress: STEPS[reason]!, message };
  if (event.type === 'Warning' && message) return { progress: 0, message: `${reason}: ${message}` };
  return null;
}

export const READY_STEP: ProgressStep = { progress: 85, message: 'Pod ready: the server answers' };

function conditionOf(pod: V1Pod, type: string) {
  return pod.status?.conditions?.find((c) => c.type === type);
}

export function podIsReady(pod: V1Pod): boolean {
  return !pod.metadata?.deletionTimestamp && pod.status?.phase === 'Running' && conditionOf(pod, 'Ready')?.status === 'True' && !!pod.status.podIP;
}

/** The scheduler's reason it has not placed the pod yet, if that is what it waits for. */
export function unschedulable(pod: V1Pod): string | null {
  const scheduled = conditionOf(pod, 'PodScheduled');
  if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') return scheduled.message ?? 'no node can run it';
  return null;
}

export type Stuck =
  | { kind: 'image'; reason: string; image: string; message: string }
  | { kind: 'crash'; container: string; exitCode: number | undefined; reason: string }
  | { kind: 'exited'; exitCode: number | undefined; reason: string }
  | { kind: 'start'; reason: string; message: string }
  | { kind: 'failed'; message: string };

const IMAGE_REASONS = new Set(['ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull']);
// the runtime could not start the program at all (not found, not executable): trying again will not help
const START_REASONS = new Set(['StartError', 'RunContainerError', 'CreateContainerError', 'ContainerCannotRun']);

/** Why the pod will not become ready without someone's help, or null while it may still. */
export function stuck(pod: V1Pod): Stuck | null {
  const status = pod.status;
  if (status?.phase === 'Failed') return { kind: 'failed', message: [status.reason, status.message].filter(Boolean).join(': ') || 'the pod failed' };
  const containers: V1ContainerStatus[] = status?.containerStatuses ?? [];
  for (const c of containers) {
    const waiting = c.state?.waiting;
    if (waiting?.reason && IMAGE_REASONS.has(waiting.reason)) return { kind: 'image', reason: waiting.reason, image: c.image, message: waiting.message ?? '' };
    const failedStart = [c.state?.terminated, c.lastState?.terminated].find((t) => t?.reason && START_REASONS.has(t.reason));
    if (failedStart) return { kind: 'start', reason: failedStart.reason!, message: failedStart.message ?? '' };
    if (waiting?.reason && START_REASONS.has(waiting.reason)) return { kind: 'start', reason: waiting.reason, message: waiting.message ?? '' };
    if (waiting?.reason === 'CrashLoopBackOff') {
      return { kind: 'crash', container: c.name, exitCode: c.lastState?.terminated?.exitCode, reason: c.lastState?.terminated?.reason ?? 'Error' };
    }
  }
  if (status?.phase === 'Succeeded') {
    const term = containers[0]?.state?.terminated;
    return { kind: 'exited', exitCode: term?.exitCode, reason: term?.reason ?? 'Completed' };
  }
  return null;
}

/** The sentence for a stuck pod; `logTail` is the container's last lines when there are any. */
export function stuckMessage(s: Stuck, logTail: string): string {
  const log = logTail.trim() ? `\nIts last log lines:\n${logTail.trimEnd()}` : '';
  switch (s.kind) {
    case 'image':
      return `The image ${s.image} could not be pulled (${s.reason})${s.message ? `: ${s.message}` : ''}. Check the image name in the catalog and that the cluster may pull it (image_pull_secrets).`;
    case 'crash':
      return `The server keeps crashing (CrashLoopBackOff, last exit code ${s.exitCode ?? '?'}, ${s.reason}).${log}`;
    case 'exited':
      return `The server exited before it was ready (exit code ${s.exitCode ?? '?'}, ${s.reason}).${log}`;
    case 'start':
      return `The server's program could not be started (${s.reason})${s.message ? `: ${s.message}` : ''}. Check spawner.kubernetes.cmd and the image.`;
    case 'failed':
      return `The pod failed: ${s.message}.${log}`;
  }
}
