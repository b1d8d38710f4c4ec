// Refinery against JupyterHub's own REST API description (the OpenAPI file shipped in the source
// archive of jupyterhub 5.5.4, fetched by `bash scripts/setup.sh --test`): every operation the
// description lists under the sharing, services and proxy paths is called as a client would, and
// must answer with a status code the description documents, in the documented response schema.
// The operations come from the file, not from this test: one the description adds and this test
// has no request for fails here.
//
// Schemas are checked more strictly than the description says: an object schema that lists its
// properties without saying which are required has all of them required, because JupyterHub's
// models always carry every field (null when there is nothing to say).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import { launchRefinery, SERVICE_TOKEN, startServerAndWait, type RefineryProcess } from '../helpers/refinery.js';

const SPEC_PATH = join(process.cwd(), '.tools', 'api-schemas', 'jupyterhub-rest-api.yml');
const PAGINATION = 'application/jupyterhub-pagination+json';
/** The paths this test holds Refinery to. */
const COVERED = [/^\/shares\//, /^\/share-codes\//, /^\/users\/\{name\}\/shared/, /^\/groups\/\{name\}\/shared/, /^\/services/, /^\/proxy$/];

type Json = Record<string, unknown>;
interface Operation { path: string; method: string; operationId: string; responses: Record<string, Json> }

/** A request that should succeed, and who makes it. `expand` fills in the path's parameters. */
interface Call { token: string; params: Record<string, string>; body?: unknown; query?: string }

/**
 * Where JupyterHub itself answers differently from its description, Refinery answers as JupyterHub
 * does (a drop-in must): GET /services returns an object of Service models by name, not a list; GET
 * /users/{name}/shared lists Share models (the description names ShareCode, which JupyterHub's
 * handler does not return).
 */
const JUPYTERHUB_ANSWERS_OTHERWISE: Record<string, (schema: Json) => Json> = {
  'get-services': (schema) => ({ type: 'object', additionalProperties: (schema as { items: Json }).items }),
  'get-user-shared': (schema) => JSON.parse(JSON.stringify(schema).replaceAll('#/components/schemas/ShareCode"', '#/components/schemas/Share"')) as Json,
};

function loadSpec(): Json {
  if (!existsSync(SPEC_PATH)) throw new Error(`${SPEC_PATH} is missing: run \`bash scripts/setup.sh --test\`, which fetches it from PyPI`);
  return parse(readFileSync(SPEC_PATH, 'utf8')) as Json;
}

/** Every listed property required (see the header), recursively; $refs pointed into `#spec`. */
function strict(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strict);
  if (!node || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [key, value] of Object.entries(node as Json)) {
    if (key === '$ref' && typeof value === 'string') out[key] = `spec${value}`;
    else if (key === 'example' || key === 'description') continue;
    else out[key] = key === 'properties' ? Object.fromEntries(Object.entries(value as Json).map(([k, v]) => [k, strict(v)])) : strict(value);
  }
  if (out.properties && !out.required) out.required = Object.keys(out.properties as Json);
  return out;
}

function operationsOf(spec: Json): Operation[] {
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries(spec.paths as Record<string, Json>)) {
    if (!COVERED.some((pattern) => pattern.test(path))) continue;
    for (const [method, op] of Object.entries(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      const operation = op as { operationId: string; responses: Record<string, Json> };
      ops.push({ path, method: method.toUpperCase(), operationId: operation.operationId, responses: operation.responses });
    }
  }
  return ops;
}

function expand(path: string, params: Record<string, string>): string {
  return `/hub/api${path.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`no value for {${name}} in ${path}`);
    return encodeURIComponent(value);
  })}`;
}

let hub: RefineryProcess;
let alice = '';
let bob = '';
let carol = '';
let codeId = '';

/** One successful request per operation the description lists (by operationId). */
function calls(): Record<string, () => Call> {
  const aliceServer = { owner: 'alice', server_name: '' };
  return {
    'get-user-shared': () => ({ token: bob, params: { name: 'bob' } }),
    'get-user-shared-server': () => ({ token: bob, params: { name: 'bob', ...aliceServer } }),
    'delete-user-shared-server': () => ({ token: carol, params: { name: 'carol', ...aliceServer } }),
    'get-group-shared': () => ({ token: SERVICE_TOKEN, params: { name: 'team' } }),
    'get-group-shared-server': () => ({ token: SERVICE_TOKEN, params: { name: 'team', ...aliceServer } }),
    'delete-group-shared-server': () => ({ token: SERVICE_TOKEN, params: { name: 'team', ...aliceServer } }),
    'get-shares-owner': () => ({ token: alice, params: { owner: 'alice' } }),
    'get-shares-server': () => ({ token: alice, params: aliceServer }),
    'post-shares-server': () => ({ token: alice, params: aliceServer, body: { user: 'bob', scopes: ['access:servers', 'read:servers'] } }),
    'patch-shares-server': () => ({ token: alice, params: aliceServer, body: { user: 'bob', scopes: ['access:servers'] } }),
    'delete-shares-server': () => ({ token: alice, params: aliceServer }),
    'get-share-codes-owner': () => ({ token: alice, params: { owner: 'alice' } }),
    'get-share-codes-server': () => ({ token: alice, params: aliceServer }),
    'post-share-code': () => ({ token: alice, params: aliceServer, body: { expires_in: 3600 } }),
    'delete-share-code': () => ({ token: alice, params: aliceServer, query: `id=${codeId}` }),
    'get-services': () => ({ token: SERVICE_TOKEN, params: {} }),
    'get-service': () => ({ token: SERVICE_TOKEN, params: { name: 'test-admin' } }),
    'get-proxy': () => ({ token: SERVICE_TOKEN, params: {} }),
    'post-proxy': () => ({ token: SERVICE_TOKEN, params: {} }),
    'patch-proxy': () => ({ token: SERVICE_TOKEN, params: {}, body: {} }),
  };
}

/** Order matters where one call prepares the next (a share before it is read, a code before it is revoked). */
const ORDER = [
  'post-shares-server', 'get-shares-owner', 'get-shares-server', 'get-user-shared', 'get-user-shared-server',
  'patch-shares-server', 'post-share-code', 'get-share-codes-owner', 'get-share-codes-server', 'delete-share-code',
  'get-group-shared', 'get-group-shared-server', 'delete-group-shared-server', 'delete-user-shared-server', 'delete-shares-server',
  'get-services', 'get-service', 'get-proxy', 'post-proxy', 'patch-proxy',
];

before(async () => {
  hub = await launchRefinery({
    config: {
      services: [{ name: 'test-admin', api_token: SERVICE_TOKEN, scopes: ['admin:users', 'admin:servers', 'tokens', 'admin:groups', 'access:servers', 'list:services', 'read:services', 'proxy', 'read:shares', 'users:shares', 'groups:shares'] }],
    },
  });
  assert.equal((await hub.api('/hub/api/users', { method: 'POST', body: JSON.stringify({ usernames: ['alice', 'bob', 'carol'] }) })).status, 201);
  assert.equal((await hub.api('/hub/api/groups/team', { method: 'POST', body: JSON.stringify({ users: ['carol'] }) })).status, 201);
  [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((name) => hub.tokenFor(name)));
  await startServerAndWait(hub, SERVICE_TOKEN, 'alice');
  // shares the deletions and group reads act on
  for (const body of [{ group: 'team' }, { user: 'carol' }]) {
    assert.equal((await hub.as(alice, '/hub/api/shares/alice/', { method: 'POST', body: JSON.stringify(body) })).status, 200);
  }
});

after(() => hub?.cleanup());

describe("JupyterHub's REST API description: sharing, services and proxy", () => {
  const spec = loadSpec();
  const ajv = new Ajv({ strict: false, allErrors: true });
  ajv.addFormat('date-time', (value: string) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(value));
  ajv.addSchema({ $id: 'spec', components: strict((spec.components as Json)) }, 'spec');
  const operations = operationsOf(spec);
  const byId = new Map(operations.map((op) => [op.operationId, op]));

  test('the description lists the operations this test calls, and no other', () => {
    assert.ok(operations.length >= 20, `found ${operations.length} operations under the covered paths`);
    assert.deepEqual([...byId.keys()].sort(), [...ORDER].sort());
    assert.deepEqual(Object.keys(calls()).sort(), [...ORDER].sort());
  });

  for (const id of ORDER) {
    test(`${id}: a documented status and the documented response schema`, { timeout: 60_000 }, async () => {
      const op = byId.get(id);
      assert.ok(op, `${id} is in the description`);
      const call = calls()[id]!();
      const url = `${expand(op.path, call.params)}${call.query ? `?${call.query}` : ''}`;
      const response = await hub.as(call.token, url, {
        method: op.method,
        headers: { Accept: `${PAGINATION}, application/json` },
        ...(call.body !== undefined ? { body: JSON.stringify(call.body) } : {}),
      });
      const text = await response.text();
      const documented = Object.keys(op.responses);
      assert.ok(documented.includes(String(response.status)), `${op.method} ${url} answered ${response.status} (${text.slice(0, 200)}); documented: ${documented.join(', ')}`);
      const content = op.responses[String(response.status)]!.content as Record<string, { schema?: Json }> | undefined;
      const schema = content?.['application/json']?.schema;
      if (!schema) return; // documented with no body (204, or 200 with content {})
      const adjusted = JUPYTERHUB_ANSWERS_OTHERWISE[id]?.(schema) ?? schema;
      const validate: ValidateFunction = ajv.compile(strict(adjusted) as Json);
      const body = JSON.parse(text) as unknown;
      assert.ok(validate(body), `${op.method} ${url}: ${ajv.errorsText(validate.errors)}\n${text.slice(0, 1000)}`);
      if (id === 'post-share-code') codeId = (body as { id: string }).id;
    });
  }
});
