/**
 * What the Kubernetes spawner costs the API server as the number of running servers grows: the
 * requests the hub's Kubernetes client makes per minute with 10 and with 500 server pods, doing
 * what the hub does while they run (every poll round: is each server alive?; every reconcile pass:
 * the spawner's list()). Beside it, what a spawner that GETs each pod per poll would make.
 *
 *   npx tsc -p . && node dist/bench/kubernetes.js [--counts 10,500] [--minutes 1] [--poll-seconds 10]
 *
 * Real control plane and node agent (test/helpers); the pods are created as the spawner labels
 * them, bound straight to the node agent's node (one node holds 110 pods by the scheduler's count;
 * the agent does not enforce it), each running `sleep`. The hub's client runs with the token of
 * deploy/kubernetes/rbac.yaml's Role.
 */
import { parseArgs } from 'node:util';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { KubeApi } from '../src/kubernetes/api.js';
import { KUBERNETES_SPAWNER_DEFAULTS } from '../src/config/kubernetes.js';
import { KubeSpawner } from '../src/spawners/kubernetes/spawner.js';
import { COMPONENT, serverAnnotations, serverLabels } from '../src/spawners/kubernetes/names.js';
import { createLogger } from '../src/log.js';
import { startKubeCluster } from '../test/helpers/kube-cluster.js';
import { startNodeAgent } from '../test/helpers/node-agent.js';
import { manifestRules } from '../test/helpers/kube-hub.js';
import { waitFor } from '../test/helpers/tmp.js';

const { values } = parseArgs({ options: { counts: { type: 'string', default: '10,500' }, minutes: { type: 'string', default: '1' }, 'poll-seconds': { type: 'string', default: '10' } } });
const counts = values.counts.split(',').map(Number);
const windowMs = Number(values.minutes) * 60_000;
const pollMs = Number(values['poll-seconds']) * 1000;
const IMAGE = 'bench/sleep:1';

function serverPod(user: string): V1Pod {
  return {
    metadata: { name: `jupyter-${user}`, labels: serverLabels('refinery', COMPONENT.server, user, ''), annotations: serverAnnotations(user, '') },
    spec: { nodeName: 'node-1', restartPolicy: 'OnFailure', automountServiceAccountToken: false, containers: [{ name: 'notebook', image: IMAGE, command: ['sleep', '3600'] }] },
  };
}

const cluster = await startKubeCluster();
const agent = await startNodeAgent(cluster, { images: { [IMAGE]: {} } });
const results: Record<string, unknown>[] = [];
try {
  const admin = cluster.adminKubeConfig().makeApiClient(CoreV1Api);
  let made = 0;
  for (const count of counts) {
    const namespace = `bench-${count}`;
    const team = await cluster.createNamespace(namespace, { rules: await manifestRules(), serviceAccount: 'refinery-hub' });
    for (made = 0; made < count; made++) await admin.createNamespacedPod({ namespace, body: serverPod(`u${made}`) });
    await waitFor(async () => (await admin.listNamespacedPod({ namespace })).items.filter((p) => p.status?.phase === 'Running').length === count, { timeoutMs: 600_000, intervalMs: 2000, message: `${count} pods running` });

    const api = new KubeApi(team.kubeConfig, namespace);
    const spawner = new KubeSpawner({ api, config: KUBERNETES_SPAWNER_DEFAULTS, args: [], stopGraceMs: 1000, log: createLogger({ level: 'warn' }) });
    await spawner.watch.synced();
    const before = api.counter.total();
    const started = Date.now();
    let rounds = 0;
    let states = await spawner.list();
    while (Date.now() - started < windowMs) {
      // a poll round: every server asked; a reconcile pass (list) every sixth round, as 60 s against 10 s
      for (const state of states) {
        const alive = await spawner.poll(state);
        if (!alive.running) throw new Error(`pod ${String(state.pod)} reported not running`);
      }
      if (rounds % 6 === 0) states = await spawner.list();
      rounds++;
      await new Promise((r) => setTimeout(r, pollMs));
    }
    const minutes = (Date.now() - started) / 60_000;
    const requests = api.counter.total() - before;
    const row = {
      pods: count, servers_seen: states.length, poll_rounds: rounds, minutes: Number(minutes.toFixed(2)),
      requests_per_minute: Number((requests / minutes).toFixed(1)),
      by_request: api.counter.snapshot(),
      get_per_pod_would_be_per_minute: Number(((count * rounds) / minutes).toFixed(1)),
      apiserver_rss_mib: (await cluster.memoryMiB())['kube-apiserver'],
    };
    results.push(row);
    console.log(JSON.stringify(row));
    await spawner.close();
  }
} finally {
  await agent.stop();
  await cluster.stop();
}
console.log('\npods | requests/min (watch) | GET-per-pod polling would make/min');
for (const r of results) console.log(`${String(r.pods).padStart(4)} | ${String(r.requests_per_minute).padStart(20)} | ${String(r.get_per_pod_would_be_per_minute).padStart(10)}`);
