/**
 * KubeSpawner: every server a pod (see manifests.ts for what the pod looks like, names.ts for
 * names and labels, watch.ts for how the hub follows pods without polling each one).
 *
 * START, in this order, each step idempotent:
 *   1. the person's home claim, if it does not exist yet (kept when servers stop);
 *   2. the server's Secret with its secret environment (API token, storage keys, profile secrets);
 *   3. the pod, whose env reads those through secretKeyRefs;
 *   4. the Secret's ownerReference to the pod, so the garbage collector removes it with the pod.
 * Secret before pod: the kubelet reads the Secret when it creates the container; the other way
 * round every start would first show a CreateContainerConfigError. A crash between 2 and 4 leaves a
 * Secret without owner, which the reconciler finds (list()) and removes.
 * Then it follows the pod's events and conditions into progress until the pod is Ready (its
 * readiness probe answers) and the hub reaches it, or fails with what blocks it: a pull that backs
 * off (the image's name), a crash loop (the container's last log lines), an exit, or at the start
 * timeout the scheduler's reason. A failed or cancelled start deletes pod and Secret.
 *
 * STOP deletes the pod with the grace period (the kubelet sends SIGTERM, then SIGKILL) and the
 * Secret, and waits until the pod is gone, so a new start of the same server never meets it.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { KubernetesSpawnerConfig } from '../../config/kubernetes.js';
import type { KubeApi } from '../../kubernetes/api.js';
import { kube, kubeError, KubeError, orMissing } from '../../kubernetes/errors.js';
import { podOwnerReference } from '../../kubernetes/owner.js';
import type { Logger } from '../../log.js';
import { SpawnError, type PollResult, type Spawner, type SpawnerState, type SpawnRequest, type StartedServer } from '../spawner.js';
import { answersHttp } from './http-check.js';
import { CONTAINER, homeClaimManifest, podManifest, secretManifest, serverNames, type ServerNames } from './manifests.js';
import { COMPONENT, hubSelector, ownerOf } from './names.js';
import { eventStep, podIsReady, READY_STEP, stuck, stuckMessage, unschedulable } from './progress.js';
import { parseKubeState, type KubeServerState } from './state.js';
import { ServerPodWatch } from './watch.js';
import { sleep } from '../../util/sleep.js';

const TOKEN_NAMES = ['JUPYTERHUB_API_TOKEN', 'JPY_API_TOKEN'];
const LOG_TAIL_LINES = 20;

export interface KubeSpawnerOptions {
  api: KubeApi;
  config: KubernetesSpawnerConfig;
  /** spawner.args: after the configured cmd. */
  args: readonly string[];
  stopGraceMs: number;
  log: Logger;
}

export class KubeSpawner implements Spawner {
  readonly kind = 'kubernetes';
  readonly placesBeforeStart = true;
  readonly watch: ServerPodWatch;
  /** The connection, shared with the cluster backends. */
  readonly api: KubeApi;
  private readonly namespace: string;

  constructor(private readonly o: KubeSpawnerOptions) {
    this.api = o.api;
    this.namespace = o.api.namespace;
    this.watch = new ServerPodWatch(o.api, o.config.hub_name, o.log);
  }

  /** The pod name of a server (the cluster backends name theirs after it). */
  podName(user: string, server: string): string {
    return serverNames(this.o.config, user, server).pod;
  }

  sameServer(a: SpawnerState, b: SpawnerState): boolean {
    const x = parseKubeState(a);
    const y = parseKubeState(b);
    return !!x && !!y && x.pod === y.pod && x.uid === y.uid && x.namespace === y.namespace;
  }

  private stateOf(names: ServerNames, user: string, server: string, uid?: string): KubeServerState {
    return { backend: 'kubernetes', namespace: this.namespace, pod: names.pod, ...(uid ? { uid } : {}), secret: names.secret, user, server };
  }

  /** The server's environment for a pod: the hub as pods reach it, and the names that go into the Secret. */
  private environment(request: SpawnRequest): { env: Record<string, string>; secret: Record<string, string>; secretNames: Set<string> } {
    const env = { ...request.env };
    const connect = this.o.config.hub_connect_url;
    if (connect) {
      const api = `${connect.replace(/\/+$/, '')}/hub/api`;
      env.JUPYTERHUB_API_URL = api;
      env.JUPYTERHUB_ACTIVITY_URL = `${api}/users/${encodeURIComponent(request.user)}/activity`;
    }
    const secretNames = new Set([...TOKEN_NAMES, ...(request.secretEnv ?? [])].filter((n) => n in env));
    const secret = Object.fromEntries([...secretNames].map((n) => [n, env[n]!]));
    return { env, secret, secretNames };
  }

  async start(request: SpawnRequest): Promise<StartedServer> {
    const deadline = Date.now() + request.startTimeoutMs;
    const { user, serverName: server } = request;
    if (!request.image) throw new SpawnError('This image cannot run on Kubernetes: its catalog entry has no kubernetes.image.');
    const names = serverNames(this.o.config, user, server);
    const say = (progress: number, message: string) => request.onProgress({ progress, message });
    await this.watch.synced();
    await this.clearLeftover(names, user, server, deadline);
    if (names.claim) await this.ensureHome(names.claim, user);

    const { env, secret, secretNames } = this.environment(request);
    const core = this.o.api.core;
    const ns = this.namespace;
    await orMissing(() => core.deleteNamespacedSecret({ name: names.secret, namespace: ns }));
    await this.apiStep('create the server\'s Secret', () => core.createNamespacedSecret({
      namespace: ns, fieldValidation: 'Strict',
      body: secretManifest({ config: this.o.config, namespace: ns, names, user, server, data: secret }),
    }));
    const manifest = podManifest({
      request, config: this.o.config, namespace: ns, names, image: request.image, env, secretNames,
      args: this.o.args, stopGraceSeconds: Math.ceil(this.o.stopGraceMs / 1000),
    });
    let pod: V1Pod;
    try {
      pod = await this.apiStep('create the server\'s pod', () => core.createNamespacedPod({ namespace: ns, body: manifest, fieldValidation: 'Strict' }));
    } catch (error) {
      await orMissing(() => core.deleteNamespacedSecret({ name: names.secret, namespace: ns })).catch(() => undefined);
      throw error;
    }
    const owner = podOwnerReference(pod);
    const state = this.stateOf(names, user, server, owner.uid);
    say(5, `Pod ${names.pod} created in namespace ${ns}`);
    try {
      await this.apiStep('give the Secret to its pod', () => core.patchNamespacedSecret(
        { name: names.secret, namespace: ns, body: { metadata: { ownerReferences: [owner] } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ));
      request.onPlaced?.({ kubernetes: { namespace: ns, ownerReference: owner, podLabels: { ...(pod.metadata?.labels ?? {}) } } });
      const ip = await this.waitUntilReady(owner.uid, names.pod, request, deadline, say);
      const host = ip.includes(':') ? `[${ip}]` : ip;
      const target = `http://${host}:${this.o.config.port}`;
      while (!(await answersHttp(`${target}${request.servicePrefix}api`, 2000))) {
        if (Date.now() >= deadline) throw new SpawnError(`The pod is ready but the hub cannot reach it at ${target}: check network policies between the hub and the pods.`);
        if (request.signal.aborted) throw new SpawnError('The start was cancelled.');
        await sleep(500, { keepAlive: false });
      }
      say(95, 'The hub reaches the server');
      this.o.log.info({ user, server, pod: names.pod, target }, 'server pod ready');
      return { target, state };
    } catch (error) {
      await this.remove(state, 0).catch((e: unknown) => this.o.log.error({ pod: names.pod, err: String(e) }, 'could not remove the pod of a failed start'));
      throw error instanceof SpawnError ? error : new SpawnError(error instanceof Error ? error.message : String(error));
    }
  }

  /** An API call whose refusal becomes a SpawnError with the API server's own words. */
  private async apiStep<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      const e = kubeError(error);
      throw new SpawnError(`Kubernetes refused to ${what} (${e.reason}): ${e.message}`);
    }
  }

  /** A pod of this name left from before (a crash): take it away first; one of another server's is a naming conflict. */
  private async clearLeftover(names: ServerNames, user: string, server: string, deadline: number): Promise<void> {
    const existing = this.watch.pods.get(names.pod, this.namespace)
      ?? await orMissing(() => this.o.api.core.readNamespacedPod({ name: names.pod, namespace: this.namespace }));
    if (!existing) return;
    const owner = ownerOf(existing.metadata);
    if (!owner || owner.user !== user || owner.server !== server) {
      throw new SpawnError(`The pod name ${names.pod} is taken by ${owner ? `${owner.user}'s server '${owner.server}'` : 'a pod Refinery did not make'}: change spawner.kubernetes.pod_name_template.`);
    }
    this.o.log.info({ pod: names.pod }, 'removing a pod left from an earlier start');
    await this.remove({ ...this.stateOf(names, user, server), ...(existing.metadata?.uid ? { uid: existing.metadata.uid } : {}) }, 0);
    await this.waitGone(names.pod, existing.metadata?.uid, deadline);
  }

  private async ensureHome(claim: string, user: string): Promise<void> {
    const core = this.o.api.core;
    const found = await kube(() => orMissing(() => core.readNamespacedPersistentVolumeClaim({ name: claim, namespace: this.namespace })));
    if (found) {
      const owner = ownerOf(found.metadata);
      if (owner && owner.user !== user) throw new SpawnError(`The home claim ${claim} belongs to ${owner.user}: change spawner.kubernetes.home_claim_template.`);
      return;
    }
    try {
      await core.createNamespacedPersistentVolumeClaim({ namespace: this.namespace, fieldValidation: 'Strict', body: homeClaimManifest({ config: this.o.config, namespace: this.namespace, name: claim, user }) });
      this.o.log.info({ user, claim }, 'created a home volume claim');
    } catch (error) {
      const e = kubeError(error);
      if (e.reason !== 'conflict') throw new SpawnError(`Kubernetes refused to create the home volume claim ${claim} (${e.reason}): ${e.message}`);
    }
  }

  /** Follow the pod until Ready (its IP), reporting its events; SpawnError when it cannot get there. */
  private waitUntilReady(uid: string, name: string, request: SpawnRequest, deadline: number, say: (p: number, m: string) => void): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const shown = new Set<string>();
      const said = new Set<string>();
      let progress = 5;
      let seen = false;
      let settled = false;
      let checking = false;
      const finish = (result: { ip: string } | { error: SpawnError }) => {
        if (settled) return;
        settled = true;
        off();
        clearInterval(timer);
        request.signal.removeEventListener('abort', evaluate);
        if ('ip' in result) resolve(result.ip);
        else reject(result.error);
      };
      const evaluate = () => {
        if (settled || checking) return;
        for (const event of this.watch.eventsOf(uid)) {
          const key = `${event.metadata?.uid}/${event.count ?? 1}`;
          if (shown.has(key)) continue;
          shown.add(key);
          const step = eventStep(event);
          // a retry repeats its events: say each thing once
          if (!step || said.has(step.message)) continue;
          said.add(step.message);
          progress = Math.max(progress, step.progress);
          say(progress, step.message);
        }
        const pod = this.watch.pods.get(name, this.namespace);
        const current = pod?.metadata?.uid === uid ? pod : undefined;
        seen ||= !!current;
        if (request.signal.aborted) return finish({ error: new SpawnError('The start was cancelled.') });
        if (seen && (!current || current.metadata?.deletionTimestamp)) return finish({ error: new SpawnError(`The pod ${name} was deleted while it was starting.`) });
        if (current && podIsReady(current)) {
          say(Math.max(progress, READY_STEP.progress), READY_STEP.message);
          return finish({ ip: current.status!.podIP! });
        }
        const blocked = current ? stuck(current) : null;
        if (blocked) {
          checking = true;
          void this.logTail(name, blocked.kind !== 'image').then((tail) => finish({ error: new SpawnError(stuckMessage(blocked, tail), tail || undefined) }));
          return;
        }
        if (Date.now() >= deadline) {
          const why = current ? unschedulable(current) : null;
          const seconds = Math.round(request.startTimeoutMs / 1000);
          const message = why
            ? `No node can run this server: ${why} (waited ${seconds} s). Pick a smaller size, or ask an administrator about the cluster's capacity.`
            : `The server did not become ready within ${seconds} s${current?.status?.phase ? ` (pod phase ${current.status.phase})` : ''}.`;
          void this.logTail(name, !why).then((tail) => finish({ error: new SpawnError(message, tail || undefined) }));
          checking = true;
        }
      };
      const off = this.watch.onChange(evaluate);
      // the deadline passes without any change: look again now and then
      const timer = setInterval(evaluate, 1000);
      timer.unref();
      request.signal.addEventListener('abort', evaluate, { once: true });
      evaluate();
    });
  }

  /** The notebook container's last lines (its previous run's, after a crash), '' when there are none. */
  private async logTail(pod: string, wanted: boolean): Promise<string> {
    if (!wanted) return '';
    const read = (previous: boolean) => this.o.api.core.readNamespacedPodLog({ name: pod, namespace: this.namespace, container: CONTAINER, previous, tailLines: LOG_TAIL_LINES });
    try {
      return await read(true);
    } catch {
      return read(false).catch(() => '');
    }
  }

  async poll(state: SpawnerState): Promise<PollResult> {
    const s = parseKubeState(state);
    if (!s?.pod) return { running: false, reason: 'not a pod of this spawner' };
    await this.watch.synced();
    const pod = this.watch.pods.get(s.pod, s.namespace);
    if (!pod || (s.uid && pod.metadata?.uid !== s.uid)) return { running: false, reason: `the pod ${s.pod} is gone` };
    if (pod.metadata?.deletionTimestamp) return { running: false, reason: `the pod ${s.pod} is being deleted` };
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') {
      const term = pod.status?.containerStatuses?.[0]?.state?.terminated;
      return { running: false, exitCode: term?.exitCode ?? null, reason: `the pod ${s.pod} ended (${phase})` };
    }
    return { running: true };
  }

  async stop(state: SpawnerState, options: { graceMs?: number } = {}): Promise<void> {
    const s = parseKubeState(state);
    if (!s) return;
    const graceSeconds = Math.ceil((options.graceMs ?? this.o.stopGraceMs) / 1000);
    await this.remove(s, graceSeconds);
    if (s.pod) await this.waitGone(s.pod, s.uid, Date.now() + graceSeconds * 1000 + 30_000).catch((e: unknown) => this.o.log.warn({ pod: s.pod, err: String(e) }, 'the pod is still being deleted'));
  }

  /** Delete pod (only the one with this uid, if known) and Secret; what is already gone is fine. */
  private async remove(s: KubeServerState, graceSeconds: number): Promise<void> {
    const core = this.o.api.core;
    if (s.pod) {
      const name = s.pod;
      try {
        await core.deleteNamespacedPod({
          name, namespace: s.namespace, gracePeriodSeconds: graceSeconds,
          body: { gracePeriodSeconds: graceSeconds, ...(s.uid ? { preconditions: { uid: s.uid } } : {}) },
        });
      } catch (error) {
        const e = kubeError(error);
        // 404: gone already; 409: the uid differs, so that pod is a newer start's and not ours to delete
        if (e.reason !== 'not-found' && e.reason !== 'conflict') throw e;
      }
    }
    await orMissing(() => core.deleteNamespacedSecret({ name: s.secret, namespace: s.namespace }));
  }

  private async waitGone(name: string, uid: string | undefined, deadline: number): Promise<void> {
    await this.watch.synced();
    for (;;) {
      const pod = this.watch.pods.get(name, this.namespace);
      if (!pod || (uid && pod.metadata?.uid !== uid)) return;
      if (Date.now() >= deadline) throw new KubeError('other', 0, `the pod ${name} is still there`);
      await new Promise<void>((resolve) => {
        const off = this.watch.onChange(() => { off(); clearTimeout(t); resolve(); });
        const t = setTimeout(() => { off(); resolve(); }, 1000);
      });
    }
  }

  /**
   * This hub's server pods (from the watch), and Secrets whose pod is gone (one list call: the
   * reconciler runs every minute or so, whatever the number of servers).
   */
  async list(): Promise<SpawnerState[]> {
    await this.watch.synced();
    const states: KubeServerState[] = [];
    const live = new Set<string>();
    const podNames = new Set<string>();
    for (const pod of this.watch.pods.list(this.namespace)) {
      const owner = ownerOf(pod.metadata);
      const name = pod.metadata?.name;
      if (!owner || !name) continue;
      live.add(pod.metadata?.uid ?? '');
      podNames.add(name);
      states.push(this.stateOf({ ...serverNames(this.o.config, owner.user, owner.server), pod: name, secret: `${name}-env` }, owner.user, owner.server, pod.metadata?.uid));
    }
    const secrets = await kube(() => this.o.api.core.listNamespacedSecret({ namespace: this.namespace, labelSelector: hubSelector(this.o.config.hub_name, COMPONENT.env) }));
    for (const secret of secrets.items) {
      const owner = ownerOf(secret.metadata);
      const name = secret.metadata?.name;
      if (!owner || !name || secret.metadata?.deletionTimestamp) continue;
      // owned by a live pod, or made for one whose ownerReference is about to be set
      if ((secret.metadata?.ownerReferences ?? []).some((ref) => live.has(ref.uid)) || podNames.has(name.replace(/-env$/, ''))) continue;
      states.push({ backend: 'kubernetes', namespace: this.namespace, secret: name, user: owner.user, server: owner.server });
    }
    return states;
  }

  async close(): Promise<void> {
    await this.watch.stop();
  }
}
