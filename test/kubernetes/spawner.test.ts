// spawner.type kubernetes against a real API server (test/helpers/kube-hub.ts): people's servers are
// pods in a namespace that enforces the restricted Pod Security Standard, made by a hub whose token
// holds only the Role in deploy/kubernetes/rbac.yaml, and run by the node agent.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { isNotFound } from '../helpers/kube-cluster.js';
import { launchKubeHub, startKubeWorld, type KubeWorld } from '../helpers/kube-hub.js';
import { execute, openKernel, upgradeStatus } from '../helpers/kernel.js';
import { browserGet, startServerAndWait, json, type RefineryProcess } from '../helpers/refinery.js';
import { addUser, signIn } from '../helpers/session.js';
import { waitFor } from '../helpers/tmp.js';

const NS = 'team';
let world: KubeWorld;
let hub: RefineryProcess;
let alice: string;
let bob: string;

before(async () => {
  world = await startKubeWorld(NS);
  hub = await launchKubeHub(world);
  for (const name of ['alice', 'bob']) {
    const res = await hub.api(`/hub/api/users/${name}`, { method: 'POST' });
    assert.equal(res.status, 201);
  }
  alice = await hub.tokenFor('alice');
  bob = await hub.tokenFor('bob');
});

after(async () => {
  await hub?.cleanup();
  await world?.stop();
});

async function podsOf(user: string): Promise<V1Pod[]> {
  return (await world.admin.listNamespacedPod({ namespace: NS, labelSelector: `hub.jupyter.org/username=${user}` })).items;
}

async function readAll(namespace: string): Promise<string> {
  const [pods, secrets, claims] = await Promise.all([
    world.admin.listNamespacedPod({ namespace }),
    world.admin.listNamespacedSecret({ namespace }),
    world.admin.listNamespacedPersistentVolumeClaim({ namespace }),
  ]);
  return JSON.stringify({ pods: pods.items, secrets: secrets.items.map((s) => s.metadata), claims: claims.items });
}

describe('spawner.type kubernetes', () => {
  test('alice starts from the API: progress shows her pod\'s events, her kernel answers through the public port, bob is refused', { timeout: 240_000 }, async () => {
    const events = await startServerAndWait(hub, alice, 'alice');
    const messages = events.map((e) => String(e.message));
    const index = (pattern: RegExp) => messages.findIndex((m) => pattern.test(m));
    assert.ok(index(/^Pod scheduled: Successfully assigned team\/jupyter-alice to node-1/) >= 0, messages.join('\n'));
    assert.ok(index(/image "refinery\/notebook:1"/) > index(/^Pod scheduled/), messages.join('\n'));
    assert.ok(index(/Started container|Container started/) > index(/image "refinery\/notebook:1"/), messages.join('\n'));
    assert.ok(index(/^Pod ready/) > index(/Started container|Container started/), messages.join('\n'));

    const [pod] = await podsOf('alice');
    assert.ok(pod, 'alice has a pod');
    assert.equal(pod.metadata?.name, 'jupyter-alice');
    assert.equal(pod.metadata?.annotations?.['hub.jupyter.org/username'], 'alice');
    assert.equal(pod.metadata?.labels?.['hub.jupyter.org/servername'], '');

    const kernel = await openKernel(hub, alice, '/user/alice/');
    assert.equal((await execute(hub, alice, '/user/alice/', kernel, 'print(6*7)')).trim(), '42');
    // the kernel runs in the pod: the node agent's home for it, as the image's user
    assert.equal((await execute(hub, alice, '/user/alice/', kernel, 'import os; print(os.getuid(), os.environ["HOSTNAME"])')).trim(), `${process.getuid?.() === 0 ? 1000 : process.getuid?.()} jupyter-alice`);

    assert.equal((await hub.as(bob, '/user/alice/api/kernels')).status, 403);
    assert.equal(await upgradeStatus(hub, bob, '/user/alice/', kernel), 403);
  });

  test('every object passed the restricted policy and strict validation; no secret value is in a pod spec', { timeout: 60_000 }, async () => {
    const [pod] = await podsOf('alice');
    assert.ok(pod?.metadata?.uid);
    const secret = await world.admin.readNamespacedSecret({ name: 'jupyter-alice-env', namespace: NS });
    assert.deepEqual(secret.metadata?.ownerReferences?.map((r) => [r.kind, r.name, r.uid]), [['Pod', 'jupyter-alice', pod.metadata.uid]]);
    const values = Object.values(secret.data ?? {}).map((v) => Buffer.from(v, 'base64').toString('utf8'));
    assert.ok(values.length >= 1 && values.every((v) => v.length >= 16), 'the Secret holds the server\'s token');
    const everything = await readAll(NS);
    for (const value of values) assert.ok(!everything.includes(value), 'a secret value appears in a pod spec or object metadata');
    const env = pod.spec?.containers[0]?.env ?? [];
    assert.deepEqual({ ...env.find((e) => e.name === 'JUPYTERHUB_API_TOKEN')?.valueFrom?.secretKeyRef }, { name: 'jupyter-alice-env', key: 'JUPYTERHUB_API_TOKEN' });

    const sc = pod.spec?.containers[0]?.securityContext;
    assert.equal(sc?.allowPrivilegeEscalation, false);
    assert.deepEqual(sc?.capabilities?.drop, ['ALL']);
    assert.equal(pod.spec?.securityContext?.runAsNonRoot, true);
    assert.equal(pod.spec?.securityContext?.seccompProfile?.type, 'RuntimeDefault');
    assert.equal(pod.spec?.securityContext?.runAsUser, undefined, 'no fixed uid unless configured');
    assert.equal(pod.spec?.automountServiceAccountToken, false);
    assert.deepEqual(JSON.parse(JSON.stringify(pod.spec?.containers[0]?.resources)), { requests: { cpu: '100m', memory: '256M' }, limits: { cpu: '1', memory: '2G' } });

    const claim = await world.admin.readNamespacedPersistentVolumeClaim({ name: 'claim-alice', namespace: NS });
    assert.equal(claim.spec?.storageClassName, 'refinery-test');
    assert.equal(claim.status?.phase, 'Bound');
  });

  test('the hub is killed and started again: alice\'s pod is adopted and her kernel still holds its variable', { timeout: 180_000 }, async () => {
    const [kernelInfo] = await json<{ id: string }[]>(hub.as(alice, '/user/alice/api/kernels'));
    assert.ok(kernelInfo);
    await execute(hub, alice, '/user/alice/', kernelInfo.id, 'remembered = "still here"');
    const before = (await podsOf('alice'))[0]?.metadata?.uid;

    await hub.kill('SIGKILL');
    await hub.restart();
    assert.equal((await podsOf('alice'))[0]?.metadata?.uid, before, 'the same pod');
    assert.equal((await execute(hub, alice, '/user/alice/', kernelInfo.id, 'print(remembered)')).trim(), 'still here');
    const user = await json<{ servers: Record<string, { ready: boolean }> }>(hub.api('/hub/api/users/alice'));
    assert.equal(user.servers['']?.ready, true);
  });

  test('alice stops: her pod and Secret are gone, her home claim stays', { timeout: 120_000 }, async () => {
    const res = await hub.as(alice, '/hub/api/users/alice/server', { method: 'DELETE' });
    assert.ok(res.status === 204 || res.status === 202, `stop: ${res.status}`);
    await waitFor(async () => (await podsOf('alice')).length === 0, { timeoutMs: 60_000, message: 'alice\'s pod to be deleted' });
    await assert.rejects(world.admin.readNamespacedSecret({ name: 'jupyter-alice-env', namespace: NS }), (e: unknown) => isNotFound(e));
    const claim = await world.admin.readNamespacedPersistentVolumeClaim({ name: 'claim-alice', namespace: NS });
    assert.equal(claim.metadata?.deletionTimestamp, undefined);
  });

  test('carol starts from the page and follows its progress; a named server gets a pod of its own', { timeout: 240_000 }, async () => {
    await addUser(hub, 'carol', 'carol-password-1');
    const carol = await signIn(hub, 'carol', 'carol-password-1');
    const started = await carol.post('/hub/spawn/carol', { image: 'python', size: 'small' });
    assert.equal(started.status, 303);
    assert.match(started.headers.get('location') ?? '', /^\/hub\/spawn-pending\/carol/);
    const page = await carol.get(started.headers.get('location')!);
    assert.equal(page.status, 200);
    const progress = await fetch(`${hub.url}/hub/api/users/carol/server/progress`, { headers: { Cookie: carol.cookie, 'X-XSRFToken': carol.xsrf, Accept: 'text/event-stream' } });
    const text = await progress.text();
    assert.match(text, /Pod scheduled: Successfully assigned team\/jupyter-carol/);
    assert.match(text, /"ready":true/);
    // her browser opening the server: jupyterhub-singleuser in the pod sends it to the hub's OAuth
    const lab = await browserGet(hub, '/user/carol/lab', { Cookie: carol.cookie });
    assert.equal(lab.status, 302);
    assert.match(lab.location ?? '', /\/hub\/api\/oauth2\/authorize\?/);

    await startServerAndWait(hub, bob, 'bob', 'Lab.2');
    const pods = await podsOf('bob');
    assert.deepEqual(pods.map((p) => p.metadata?.name), ['jupyter-bob---4cab-2e2']);
    assert.equal(pods[0]?.metadata?.annotations?.['hub.jupyter.org/servername'], 'Lab.2');
    // not a valid label value as escaped ("-4cab-2e2"): readable part and a hash
    assert.match(pods[0]?.metadata?.labels?.['hub.jupyter.org/servername'] ?? '', /^4cab-2e2-[0-9a-f]{8}$/);
  });
});
