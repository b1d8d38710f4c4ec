// A pod's status as the kubelet computes it from its containers: phase, conditions, container
// statuses. Pure: the pod worker keeps the containers' state, this turns it into the API's shape
// (plain JSON with RFC 3339 times, sent as a strategic merge patch of pods/status).

export type ContainerState =
  | { kind: 'waiting'; reason: string; message?: string }
  | { kind: 'running'; startedAt: Date }
  | Terminated;

export interface Terminated {
  kind: 'terminated';
  exitCode: number;
  signal?: number;
  reason: string;
  message?: string;
  startedAt?: Date;
  finishedAt: Date;
  containerID?: string;
}

export interface ContainerRecord {
  name: string;
  image: string;
  init: boolean;
  state: ContainerState;
  lastTerminated?: Terminated;
  restartCount: number;
  ready: boolean;
  /** Running and past its startup probe (kubelet's `started`). */
  started: boolean;
  containerID?: string;
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed';

export interface PodFacts {
  restartPolicy: 'Always' | 'OnFailure' | 'Never';
  podIP?: string;
  hostIP: string;
  startTime?: Date;
  qosClass: string;
  init: ContainerRecord[];
  containers: ContainerRecord[];
  /** Set once the pod has reached Succeeded or Failed: it never leaves it. */
  terminalPhase?: PodPhase;
}

export function time(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** kubelet's getPhase, for a pod whose init containers are done or not. */
export function podPhase(f: PodFacts): PodPhase {
  if (f.terminalPhase) return f.terminalPhase;
  if (!initDone(f)) {
    const failedInit = f.init.find((c) => c.state.kind === 'terminated' && c.state.exitCode !== 0);
    return failedInit && f.restartPolicy === 'Never' ? 'Failed' : 'Pending';
  }
  let running = 0, waiting = 0, stopped = 0, succeeded = 0;
  for (const c of f.containers) {
    if (c.state.kind === 'running') running++;
    else if (c.state.kind === 'terminated') {
      stopped++;
      if (c.state.exitCode === 0) succeeded++;
    } else if (c.lastTerminated) {
      stopped++; // waiting to be restarted
      if (c.lastTerminated.exitCode === 0) succeeded++;
    } else waiting++;
  }
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped > 0) {
    if (f.restartPolicy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    if (f.restartPolicy === 'Never') return 'Failed';
    return 'Running';
  }
  return 'Pending';
}

export function initDone(f: PodFacts): boolean {
  return f.init.every((c) => c.state.kind === 'terminated' && c.state.exitCode === 0);
}

interface Condition {
  type: string;
  status: 'True' | 'False';
  reason?: string;
  message?: string;
}

/** Remembers when each condition last changed, for lastTransitionTime. */
export class ConditionClock {
  private readonly since = new Map<string, { status: string; at: Date }>();

  stamp(c: Condition): Condition & { lastTransitionTime: string; lastProbeTime: null } {
    const prev = this.since.get(c.type);
    if (!prev || prev.status !== c.status) this.since.set(c.type, { status: c.status, at: new Date() });
    return { ...c, lastProbeTime: null, lastTransitionTime: time(this.since.get(c.type)!.at) };
  }
}

/** The status document to send. */
export function podStatus(f: PodFacts, clock: ConditionClock): Record<string, unknown> {
  const phase = podPhase(f);
  const terminal = phase === 'Succeeded' || phase === 'Failed';
  const pendingInit = f.init.filter((c) => !(c.state.kind === 'terminated' && c.state.exitCode === 0)).map((c) => c.name);
  const unready = f.containers.filter((c) => !c.ready).map((c) => c.name);
  const notReady = (): Condition =>
    terminal
      ? { type: 'ContainersReady', status: 'False', reason: 'PodCompleted' }
      : { type: 'ContainersReady', status: 'False', reason: 'ContainersNotReady', message: `containers with unready status: [${unready.join(' ')}]` };
  const containersReady: Condition = unready.length === 0 && !terminal ? { type: 'ContainersReady', status: 'True' } : notReady();
  const conditions: Condition[] = [
    { type: 'PodReadyToStartContainers', status: f.podIP && !terminal ? 'True' : 'False' },
    pendingInit.length === 0
      ? { type: 'Initialized', status: 'True' }
      : { type: 'Initialized', status: 'False', reason: 'ContainersNotInitialized', message: `containers with incomplete status: [${pendingInit.join(' ')}]` },
    containersReady,
    { ...containersReady, type: 'Ready' },
  ];
  return {
    phase,
    conditions: conditions.map((c) => clock.stamp(c)),
    hostIP: f.hostIP,
    hostIPs: [{ ip: f.hostIP }],
    ...(f.podIP ? { podIP: f.podIP, podIPs: [{ ip: f.podIP }] } : {}),
    ...(f.startTime ? { startTime: time(f.startTime) } : {}),
    qosClass: f.qosClass,
    ...(f.init.length > 0 ? { initContainerStatuses: f.init.map(containerStatus) } : {}),
    containerStatuses: f.containers.map(containerStatus),
  };
}

function containerStatus(c: ContainerRecord): Record<string, unknown> {
  return {
    name: c.name,
    image: c.image,
    imageID: `local://${c.image}`,
    ...(c.containerID ? { containerID: c.containerID } : {}),
    ready: c.ready,
    started: c.started,
    restartCount: c.restartCount,
    state: stateDoc(c.state),
    lastState: c.lastTerminated ? stateDoc(c.lastTerminated) : {},
  };
}

function stateDoc(s: ContainerState): Record<string, unknown> {
  switch (s.kind) {
    case 'waiting':
      return { waiting: { reason: s.reason, ...(s.message ? { message: s.message } : {}) } };
    case 'running':
      return { running: { startedAt: time(s.startedAt) } };
    case 'terminated':
      return {
        terminated: {
          exitCode: s.exitCode,
          ...(s.signal ? { signal: s.signal } : {}),
          reason: s.reason,
          ...(s.message ? { message: s.message } : {}),
          ...(s.startedAt ? { startedAt: time(s.startedAt) } : {}),
          finishedAt: time(s.finishedAt),
          ...(s.containerID ? { containerID: s.containerID } : {}),
        },
      };
  }
}

/** Guaranteed when every container's requests equal its limits for cpu and memory, BestEffort when none sets any. */
export function qosClass(containers: { resources?: { requests?: Record<string, string>; limits?: Record<string, string> } }[]): string {
  let any = false;
  let guaranteed = true;
  for (const c of containers) {
    const { requests = {}, limits = {} } = c.resources ?? {};
    for (const r of ['cpu', 'memory']) {
      if (requests[r] !== undefined || limits[r] !== undefined) any = true;
      if (limits[r] === undefined || (requests[r] !== undefined && requests[r] !== limits[r])) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}
