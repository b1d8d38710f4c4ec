// One pod on the node agent, from its binding to its deletion, following the kubelet's pod worker:
// each sync starts what should run (init containers one by one, then the containers), restarts
// what exited as the restart policy says (with the crash-loop back-off), writes the status, and on
// deletion stops the processes (SIGTERM, the grace period, SIGKILL) and removes the pod.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  PatchStrategy,
  setHeaderOptions,
  type CoreV1Api,
  type V1Container,
  type V1Pod,
} from '@kubernetes/client-node';
import { apiStatus } from '../kube-cluster/errors.js';
import { containerConfig } from './container-config.js';
import { ContainerConfigError } from './env.js';
import type { EventRecorder } from './events.js';
import type { ImageTable } from './images.js';
import { allocatePodIP, releasePodIP } from './ips.js';
import { ProbeLoop, type ProbeTarget } from './probes.js';
import { startContainerProcess, stopContainerProcess, type ContainerProcess, type ProcessExit } from './process.js';
import { pullImage, type PullState } from './pull.js';
import { preparePodVolumes, type PodVolumes } from './volumes.js';
import { ConditionClock, initDone, podPhase, podStatus, qosClass, type ContainerRecord, type PodFacts, type Terminated } from './status.js';

export interface WorkerContext {
  core: CoreV1Api;
  nodeName: string;
  hostIP: string;
  apiServer: URL;
  images: ImageTable;
  events: EventRecorder;
  podsDir: string;
  /** Where claims' volumes without a hostPath go; undefined: volumes are not mounted at all. */
  volumesDir?: string;
  /** First crash-loop and image-pull back-off (kubelet: 10 s), doubling up to maxBackoffMs (kubelet: 300 s). */
  backoffMs: number;
  maxBackoffMs: number;
  markers: Record<string, string>;
  log(message: string): void;
}

interface Slot {
  spec: V1Container;
  record: ContainerRecord;
  process?: ContainerProcess;
  probes: ProbeLoop[];
  /** No start attempt before this (ms since the epoch): crash-loop or pull back-off, config retry; 0 = none pending. */
  notBefore: number;
  crashBackoffMs: number;
  pull: PullState;
  /** How many times a process was started (restartCount = starts - 1). */
  starts: number;
  logFiles: string[];
}

export class PodWorker {
  private readonly uid: string;
  private readonly dir: string;
  private readonly init: Slot[];
  private readonly containers: Slot[];
  private readonly clock = new ConditionClock();
  private podIP: string | undefined;
  private startTime: Date | undefined;
  private terminalPhase: PodFacts['terminalPhase'];
  private terminating = false;
  private finished = false;
  private syncing = false;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private lastStatus = '';
  private volumes: Promise<PodVolumes> | undefined;

  constructor(
    private pod: V1Pod,
    private readonly ctx: WorkerContext,
  ) {
    const meta = pod.metadata ?? {};
    this.uid = meta.uid ?? '';
    this.dir = join(ctx.podsDir, `${meta.namespace}_${meta.name}_${this.uid}`);
    const slot = (spec: V1Container, init: boolean): Slot => ({
      spec,
      record: { name: spec.name, image: spec.image ?? '', init, state: { kind: 'waiting', reason: init ? 'PodInitializing' : 'ContainerCreating' }, restartCount: 0, ready: false, started: false },
      probes: [],
      notBefore: 0,
      crashBackoffMs: 0,
      pull: { retryAt: 0, backoffMs: 0 },
      starts: 0,
      logFiles: [],
    });
    this.init = (pod.spec?.initContainers ?? []).map((c) => slot(c, true));
    this.containers = (pod.spec?.containers ?? []).map((c) => slot(c, false));
    if (this.init.length === 0) for (const s of this.containers) s.record.state = { kind: 'waiting', reason: 'ContainerCreating' };
  }

  get name(): string {
    return `${this.pod.metadata?.namespace}/${this.pod.metadata?.name}`;
  }

  get ip(): string | undefined {
    return this.podIP;
  }

  get done(): boolean {
    return this.finished;
  }

  /** The log file of a container's current (or, with previous, last) instance. */
  logFile(container: string, previous = false): string | undefined {
    const slot = [...this.init, ...this.containers].find((s) => s.spec.name === container);
    return slot?.logFiles.at(previous ? -2 : -1);
  }

  /** Is this container's current process running? (For following its log.) */
  isRunning(container: string): boolean {
    const slot = [...this.init, ...this.containers].find((s) => s.spec.name === container);
    return slot?.process?.isRunning() ?? false;
  }

  /** A newer version of the pod from the API. */
  update(pod: V1Pod): void {
    this.pod = pod;
    this.kick();
  }

  /** The pod is gone from the API (deleted with no grace): stop its processes at once. */
  async gone(): Promise<void> {
    this.terminating = true;
    await this.killAll(0);
    this.finish();
  }

  /** The agent is stopping: kill everything, tell the API nothing. */
  async abandon(): Promise<void> {
    this.terminating = true;
    await this.killAll(0);
    this.finish();
  }

  kick(): void {
    if (this.finished) return;
    if (this.syncing) {
      this.again = true;
      return;
    }
    this.syncing = true;
    void (async () => {
      try {
        do {
          this.again = false;
          clearTimeout(this.timer);
          await this.sync().catch((err: unknown) => this.ctx.log(`sync ${this.name}: ${String(err)}`));
        } while (this.again && !this.finished);
      } finally {
        this.syncing = false;
      }
      this.scheduleNext();
    })();
  }

  // -------------------------------------------------------------------------------------------

  private async sync(): Promise<void> {
    if (this.finished) return;
    if (this.pod.metadata?.deletionTimestamp) return this.terminate();
    if (this.terminating) return; // gone from the API or abandoned: nothing more to start
    if (this.terminalPhase) return;
    if (!this.podIP) this.createSandbox();
    const now = Date.now();

    if (!initDone(this.facts())) {
      for (const slot of this.init) {
        const st = slot.record.state;
        if (st.kind === 'terminated' && st.exitCode === 0) continue;
        if (st.kind === 'running') break;
        if (now >= slot.notBefore && !(st.kind === 'terminated' && this.restartPolicy() === 'Never')) await this.start(slot);
        break;
      }
    }
    if (initDone(this.facts())) {
      for (const slot of this.containers) {
        const st = slot.record.state;
        if (st.kind === 'running' || st.kind === 'terminated') continue; // a restart first goes through waiting
        if (now >= slot.notBefore) await this.start(slot);
      }
    }
    const phase = podPhase(this.facts());
    if (phase === 'Succeeded' || phase === 'Failed') this.terminalPhase = phase;
    await this.writeStatus();
  }

  private scheduleNext(): void {
    if (this.finished || this.terminating || this.terminalPhase) return;
    // Every container waiting for a retry, including those whose time came while this sync ran
    // (on a loaded machine a sync can take longer than a back-off).
    const waits = [...this.init, ...this.containers]
      .filter((s) => s.record.state.kind === 'waiting' && s.notBefore > 0)
      .map((s) => s.notBefore);
    if (waits.length === 0) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.kick(), Math.max(0, Math.min(...waits) - Date.now()));
  }

  private createSandbox(): void {
    this.podIP = allocatePodIP();
    this.startTime = new Date();
    mkdirSync(join(this.dir, 'home'), { recursive: true });
  }

  private restartPolicy(): 'Always' | 'OnFailure' | 'Never' {
    return (this.pod.spec?.restartPolicy as 'Always' | 'OnFailure' | 'Never' | undefined) ?? 'Always';
  }

  private facts(): PodFacts {
    return {
      restartPolicy: this.restartPolicy(),
      ...(this.podIP ? { podIP: this.podIP } : {}),
      hostIP: this.ctx.hostIP,
      ...(this.startTime ? { startTime: this.startTime } : {}),
      // The API server sets it when the pod is created, and it may not change afterwards.
      qosClass: this.pod.status?.qosClass ?? qosClass(this.pod.spec?.containers ?? []),
      init: this.init.map((s) => s.record),
      containers: this.containers.map((s) => s.record),
      ...(this.terminalPhase ? { terminalPhase: this.terminalPhase } : {}),
    };
  }

  private podRef(): string {
    return `${this.pod.metadata?.name}_${this.pod.metadata?.namespace}(${this.uid})`;
  }

  /** The pod's volumes, made once before its first container (again after a failure). */
  private podVolumes(): Promise<PodVolumes | undefined> {
    const volumesDir = this.ctx.volumesDir;
    if (volumesDir === undefined) return Promise.resolve(undefined);
    const security = this.pod.spec?.securityContext ?? {};
    const owner = { uid: security.runAsUser ?? 0, gid: security.fsGroup ?? security.runAsGroup ?? 0 };
    this.volumes ??= preparePodVolumes(this.ctx.core, this.pod, this.dir, volumesDir, owner).catch((error: unknown) => {
      this.volumes = undefined;
      throw error;
    });
    return this.volumes;
  }

  private event(slot: Slot | undefined, type: 'Normal' | 'Warning', reason: string, message: string): void {
    this.ctx.events.record(this.pod, slot?.spec.name, type, reason, message);
  }

  // -------------------------------------------------------------------------------------------
  // Starting a container

  private async start(slot: Slot): Promise<void> {
    const { spec, record } = slot;
    const pulled = pullImage(this.pod, spec, slot.pull, {
      images: this.ctx.images,
      events: this.ctx.events,
      backoffMs: this.ctx.backoffMs,
      maxBackoffMs: this.ctx.maxBackoffMs,
    });
    if (!pulled.ok) {
      record.state = { kind: 'waiting', reason: pulled.reason, message: pulled.message };
      slot.notBefore = pulled.retryAt;
      return;
    }
    const config = {
      core: this.ctx.core,
      podIP: this.podIP ?? '',
      hostIP: this.ctx.hostIP,
      image: pulled.image,
      apiServer: this.ctx.apiServer,
      markers: this.ctx.markers,
    };
    const prepared = await this.podVolumes().then((volumes) => containerConfig(this.pod, spec, this.dir, config, volumes)).catch((err: unknown) => {
      const reason = err instanceof ContainerConfigError ? 'CreateContainerConfigError' : 'CreateContainerError';
      const message = err instanceof Error ? err.message : String(err);
      record.state = { kind: 'waiting', reason, message };
      this.event(slot, 'Warning', 'Failed', `Error: ${message}`);
      // The kubelet retries on its next sync of the pod, within seconds.
      slot.notBefore = Date.now() + 2000;
      return undefined;
    });
    if (!prepared || this.terminating) return;

    if (slot.starts > 0) record.restartCount += 1;
    slot.starts += 1;
    const logFile = join(this.dir, 'logs', spec.name, `${record.restartCount}.log`);
    mkdirSync(join(this.dir, 'logs', spec.name), { recursive: true });
    slot.logFiles.push(logFile);
    this.event(slot, 'Normal', 'Created', 'Container created');
    let proc: ContainerProcess;
    try {
      proc = await startContainerProcess({ ...prepared, logFile });
    } catch (err) {
      const message = `failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: ${(err as Error).message}: unknown`;
      this.event(slot, 'Warning', 'Failed', `Error: ${message}`);
      this.exited(slot, { kind: 'terminated', exitCode: 128, reason: 'StartError', message, startedAt: new Date(0), finishedAt: new Date() });
      return;
    }
    if (this.terminating) {
      // Torn down while this one was starting (gone() and abandon() do not wait for a sync).
      proc.signal('SIGKILL');
      await proc.exited;
      return;
    }
    slot.process = proc;
    slot.notBefore = 0;
    record.containerID = `refinery-node-agent://${this.uid}/${spec.name}/${record.restartCount}`;
    record.state = { kind: 'running', startedAt: proc.startedAt };
    this.event(slot, 'Normal', 'Started', 'Container started');
    this.startProbes(slot, proc, prepared);
    void proc.exited.then((exit) => this.processExited(slot, proc, exit));
  }

  private startProbes(slot: Slot, proc: ContainerProcess, prepared: { env: Record<string, string>; cwd: string }): void {
    const { spec, record } = slot;
    const target: ProbeTarget = { podIP: this.podIP ?? '', container: spec, env: prepared.env, cwd: prepared.cwd };
    const current = (): boolean => slot.process === proc && proc.isRunning();
    const unhealthy = (message: string): void => {
      if (current()) this.event(slot, 'Warning', 'Unhealthy', message);
    };
    const killFor = (why: string): void => {
      if (!current()) return;
      this.event(slot, 'Normal', 'Killing', `Container ${spec.name} ${why}, will be restarted`);
      void stopContainerProcess(proc, this.pod.spec?.terminationGracePeriodSeconds ?? 30);
    };
    const afterStartup = (): void => {
      record.started = true;
      if (spec.readinessProbe) {
        const readiness = new ProbeLoop('Readiness', spec.readinessProbe, target, (passing) => {
          if (!current()) return;
          record.ready = passing;
          this.kick();
        }, unhealthy);
        slot.probes.push(readiness);
        readiness.start();
      } else {
        record.ready = true;
      }
      if (spec.livenessProbe) {
        const liveness = new ProbeLoop('Liveness', spec.livenessProbe, target, (passing) => {
          if (!passing) killFor('failed liveness probe');
        }, unhealthy);
        slot.probes.push(liveness);
        liveness.start();
      }
      this.kick();
    };
    if (slot.record.init) return; // init containers have no probes; they just have to finish
    if (spec.startupProbe) {
      const startup = new ProbeLoop('Startup', spec.startupProbe, target, (passing) => {
        if (!current()) return;
        if (passing) afterStartup();
        else killFor('failed startup probe');
      }, unhealthy);
      slot.probes.push(startup);
      startup.start();
    } else {
      afterStartup();
    }
  }

  // -------------------------------------------------------------------------------------------
  // When a container stops

  private processExited(slot: Slot, proc: ContainerProcess, exit: ProcessExit): void {
    if (slot.process !== proc) return;
    slot.process = undefined;
    this.exited(slot, {
      kind: 'terminated',
      exitCode: exit.exitCode,
      ...(exit.signal ? { signal: exit.exitCode - 128 } : {}),
      reason: exit.exitCode === 0 ? 'Completed' : 'Error',
      startedAt: proc.startedAt,
      finishedAt: exit.finishedAt,
      ...(slot.record.containerID ? { containerID: slot.record.containerID } : {}),
    });
  }

  private exited(slot: Slot, term: Terminated): void {
    const { record } = slot;
    for (const p of slot.probes) p.stop();
    slot.probes = [];
    record.ready = false;
    record.started = false;
    const policy = this.restartPolicy();
    // Init containers are retried until they succeed (unless Never); containers as the policy says.
    const restart =
      !this.terminating &&
      (record.init ? policy !== 'Never' && term.exitCode !== 0 : policy === 'Always' || (policy === 'OnFailure' && term.exitCode !== 0));
    if (!restart) {
      record.state = term;
      this.kick();
      return;
    }
    // A container that ran for a good while starts its back-off afresh, as in the kubelet.
    if (term.startedAt && term.finishedAt.getTime() - term.startedAt.getTime() > 2 * this.ctx.maxBackoffMs) slot.crashBackoffMs = 0;
    record.lastTerminated = term;
    if (slot.crashBackoffMs === 0) {
      // The first exit is restarted at once; the back-off starts from there.
      slot.crashBackoffMs = this.ctx.backoffMs;
      slot.notBefore = 0;
      record.state = { kind: 'waiting', reason: record.init ? 'PodInitializing' : 'ContainerCreating' };
    } else {
      const seconds = `${Math.round(slot.crashBackoffMs / 1000)}s`;
      slot.notBefore = term.finishedAt.getTime() + slot.crashBackoffMs;
      record.state = {
        kind: 'waiting',
        reason: 'CrashLoopBackOff',
        message: `back-off ${seconds} restarting failed container=${slot.spec.name} pod=${this.podRef()}`,
      };
      this.event(slot, 'Warning', 'BackOff', `Back-off restarting failed container ${slot.spec.name} in pod ${this.podRef()}`);
      slot.crashBackoffMs = Math.min(slot.crashBackoffMs * 2, this.ctx.maxBackoffMs);
    }
    this.kick();
  }

  // -------------------------------------------------------------------------------------------
  // Deletion

  private async terminate(): Promise<void> {
    if (!this.terminating) {
      this.terminating = true;
      const grace = this.pod.metadata?.deletionGracePeriodSeconds ?? this.pod.spec?.terminationGracePeriodSeconds ?? 30;
      for (const slot of [...this.init, ...this.containers]) {
        if (slot.process?.isRunning()) this.event(slot, 'Normal', 'Killing', `Stopping container ${slot.spec.name}`);
      }
      await this.killAll(grace);
      for (const slot of [...this.init, ...this.containers]) {
        // Waiting to be restarted: its last exit is its end. Never started: as the kubelet reports
        // a container of a pod torn down before it ran.
        if (slot.record.state.kind === 'waiting') {
          slot.record.state = slot.record.lastTerminated ?? {
            kind: 'terminated',
            exitCode: 137,
            reason: 'ContainerStatusUnknown',
            message: 'The container could not be located when the pod was terminated',
            finishedAt: new Date(),
          };
        }
      }
      const ok = this.containers.every((s) => s.record.state.kind === 'terminated' && s.record.state.exitCode === 0);
      this.terminalPhase ??= ok ? 'Succeeded' : 'Failed';
      await this.writeStatus();
    }
    const meta = this.pod.metadata ?? {};
    try {
      // What a kubelet does last: remove the object, only if it is still this pod.
      await this.ctx.core.deleteNamespacedPod({
        name: meta.name ?? '',
        namespace: meta.namespace ?? '',
        gracePeriodSeconds: 0,
        body: { gracePeriodSeconds: 0, preconditions: { uid: this.uid } },
      });
    } catch (err) {
      const code = apiStatus(err)?.code;
      if (code !== 404 && code !== 409) {
        this.ctx.log(`delete ${this.name}: ${String(err)}`);
        this.terminating = true;
        setTimeout(() => this.kick(), 1000); // try again
        return;
      }
    }
    this.finish();
  }

  /** SIGTERM to every running container's process group, SIGKILL after `graceSeconds`. */
  private async killAll(graceSeconds: number): Promise<void> {
    clearTimeout(this.timer);
    const slots = [...this.init, ...this.containers];
    for (const s of slots) for (const p of s.probes) p.stop();
    await Promise.all(slots.map((s) => (s.process ? stopContainerProcess(s.process, graceSeconds) : undefined)));
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.timer);
    if (this.podIP) releasePodIP(this.podIP);
  }

  private async writeStatus(): Promise<void> {
    const status = podStatus(this.facts(), this.clock);
    const text = JSON.stringify(status);
    if (text === this.lastStatus) return;
    const meta = this.pod.metadata ?? {};
    try {
      await this.ctx.core.patchNamespacedPodStatus(
        { name: meta.name ?? '', namespace: meta.namespace ?? '', body: { status } },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      );
      this.lastStatus = text;
    } catch (err) {
      if (apiStatus(err)?.code === 404) return; // gone meanwhile
      this.ctx.log(`status of ${this.name}: ${String(err)}`);
      setTimeout(() => this.kick(), 1000); // try again
    }
  }
}
