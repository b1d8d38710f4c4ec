// JupyterHub's /services, /proxy and /authorizations/token on Refinery: the answers' shapes checked
// against JSON Schemas written from the models of JupyterHub's REST API description (Service; the
// configurable-http-proxy routing table; the token answer), and the scopes each asks for.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Ajv, type JSONSchemaType } from 'ajv';
import { launchRefinery, SERVICE_TOKEN, startServerAndWait, type RefineryProcess } from '../helpers/refinery.js';

const ajv = new Ajv({ strict: true, allErrors: true });

interface ServiceModel { kind: 'service'; name: string; admin: boolean; roles: string[]; url: string; prefix: string; pid: number; command: string[]; info: Record<string, unknown>; display: boolean }
const serviceSchema: JSONSchemaType<ServiceModel> = {
  type: 'object', additionalProperties: false,
  required: ['kind', 'name', 'admin', 'roles', 'url', 'prefix', 'pid', 'command', 'info', 'display'],
  properties: {
    kind: { type: 'string', const: 'service' }, name: { type: 'string' }, admin: { type: 'boolean' },
    roles: { type: 'array', items: { type: 'string' } }, url: { type: 'string' }, prefix: { type: 'string' },
    pid: { type: 'number' }, command: { type: 'array', items: { type: 'string' } }, info: { type: 'object', required: [] }, display: { type: 'boolean' },
  },
};
const isService = ajv.compile(serviceSchema);
const isRoutingTable = ajv.compile({
  type: 'object',
  additionalProperties: {
    type: 'object', additionalProperties: false, required: ['routespec', 'target', 'data'],
    properties: { routespec: { type: 'string', pattern: '^/' }, target: { type: 'string', pattern: '^https?://' }, data: { type: 'object', required: ['user', 'server_name'], properties: { user: { type: 'string' }, server_name: { type: 'string' } } } },
  },
});
const isTokenAnswer = ajv.compile({ type: 'object', required: ['token'], properties: { token: { type: 'string', minLength: 16 }, warning: { type: 'string' }, user: { type: 'object' } } });

let hub: RefineryProcess;

before(async () => {
  hub = await launchRefinery({
    config: {
      services: [
        { name: 'test-admin', api_token: SERVICE_TOKEN, scopes: ['admin:users', 'admin:servers', 'tokens', 'access:servers', 'list:services', 'read:services', 'proxy'] },
        { name: 'culler', api_token: 'culler-token-0123456789abcdef', scopes: ['list:users', 'admin:servers'] },
        { name: 'dashboard', api_token: 'dashboard-token-0123456789abcdef', scopes: [], url: 'http://127.0.0.1:9999', display: true },
      ],
    },
  });
  assert.equal((await hub.api('/hub/api/users', { method: 'POST', body: JSON.stringify({ usernames: ['alice'] }) })).status, 201);
});

after(() => hub?.cleanup());

describe("JupyterHub's services, proxy and token endpoints", () => {
  test('GET /services: every configured service by name, in the Service schema, without tokens', async () => {
    const res = await hub.api('/hub/api/services');
    assert.equal(res.status, 200);
    const body = (await res.json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), ['culler', 'dashboard', 'test-admin']);
    for (const model of Object.values(body)) assert.ok(isService(model), JSON.stringify(ajv.errorsText(isService.errors)));
    assert.equal((body.dashboard as ServiceModel).url, 'http://127.0.0.1:9999');
    assert.ok(!JSON.stringify(body).includes('token-0123456789'), 'no service token is shown');
  });

  test('GET /services/{name}: the model, 404 for an unknown one, 403 without the scope', async () => {
    const one = await hub.api('/hub/api/services/culler');
    assert.equal(one.status, 200);
    assert.ok(isService(await one.json()));
    assert.equal((await hub.api('/hub/api/services/nope')).status, 404);
    const alice = await hub.tokenFor('alice');
    assert.equal((await hub.as(alice, '/hub/api/services')).status, 403);
    assert.equal((await hub.as(alice, '/hub/api/services/culler')).status, 403);
  });

  test('GET /proxy: the routing table in configurable-http-proxy\'s shape, with a running server in it; POST and PATCH answer 200', { timeout: 120_000 }, async () => {
    await startServerAndWait(hub, SERVICE_TOKEN, 'alice');
    const res = await hub.api('/hub/api/proxy');
    assert.equal(res.status, 200);
    const table = (await res.json()) as Record<string, { data: { user: string } }>;
    assert.ok(isRoutingTable(table), ajv.errorsText(isRoutingTable.errors));
    assert.equal(table['/user/alice/']?.data.user, 'alice');
    assert.equal((await hub.api('/hub/api/proxy', { method: 'POST' })).status, 200);
    assert.equal((await hub.api('/hub/api/proxy', { method: 'PATCH', body: '{}' })).status, 200);
    assert.equal((await hub.as(await hub.tokenFor('alice'), '/hub/api/proxy')).status, 403);
  });

  test('POST /authorizations/token: a new token for the person asking, 403 for nobody', async () => {
    const alice = await hub.tokenFor('alice');
    const res = await hub.as(alice, '/hub/api/authorizations/token', { method: 'POST' });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { token: string };
    assert.ok(isTokenAnswer(body), ajv.errorsText(isTokenAnswer.errors));
    const me = (await (await hub.as(body.token, '/hub/api/user')).json()) as { name: string };
    assert.equal(me.name, 'alice', 'the new token is alice\'s');
    assert.equal((await hub.as(null, '/hub/api/authorizations/token', { method: 'POST' })).status, 403);
  });
});
