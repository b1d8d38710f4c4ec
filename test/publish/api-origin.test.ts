// Published pages on their own origin (publish.public_url): the hub's address redirects there, that
// origin serves published pages and nothing else, and pages for hub users or a group learn who is
// looking through a signed hand-off from the hub, never through the hub's cookies.
// Here the hub is http://127.0.0.1:PORT and the page origin http://localhost:PORT: the same listener,
// two origins, exactly as a browser tells them apart.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { readFile, writeFile } from 'node:fs/promises';
import { parse, stringify } from 'yaml';
import { launchRefinery, type RefineryProcess } from '../helpers/refinery.js';
import { addUser, signIn } from '../helpers/session.js';
import { notebookFileText, reportNotebook } from './notebooks.js';

interface Publication { id: string; url: string }

describe('published pages on a separate origin', () => {
  let hub: RefineryProcess;
  let pages: string;
  const tokens: Record<string, string> = {};

  before(async () => {
    hub = await launchRefinery();
    // the page origin needs the hub's port: add it to the configuration and start again on the same port
    pages = `http://localhost:${hub.port}`;
    const config = parse(await readFile(hub.configPath, 'utf8')) as Record<string, unknown>;
    await writeFile(hub.configPath, stringify({ ...config, public_url: hub.url, publish: { public_url: pages } }));
    await hub.kill();
    await hub.restart();
    for (const name of ['alice', 'bob', 'carol']) await addUser(hub, name, `${name}-password`);
    assert.equal((await hub.api('/hub/api/groups/physics', { method: 'POST' })).status, 201);
    assert.equal((await hub.api('/hub/api/groups/physics/users', { method: 'POST', body: JSON.stringify({ users: ['bob'] }) })).status, 200);
    for (const name of ['alice', 'bob', 'carol']) tokens[name] = await hub.tokenFor(name);
  });
  after(() => hub?.cleanup());

  const publish = async (visibility: string): Promise<Publication> => {
    const data = new FormData();
    data.append('title', `Seen by ${visibility}`);
    data.append('visibility', visibility);
    data.append('notebook', new Blob([notebookFileText(reportNotebook())]), 'report.ipynb');
    const res = await hub.as(tokens.alice!, '/hub/api/users/alice/publications', { method: 'POST', body: data });
    assert.equal(res.status, 201, await res.clone().text());
    return (await res.json()) as Publication;
  };

  const get = (url: string, headers: Record<string, string> = {}) => fetch(url, { redirect: 'manual', headers: { Accept: 'text/html', ...headers } });

  test('links point at the page origin; the hub address redirects there', async () => {
    const publication = await publish('public');
    assert.equal(publication.url, `${pages}/p/${publication.id}`);
    const viaHub = await get(`${hub.url}/p/${publication.id}`);
    assert.equal(viaHub.status, 302);
    assert.equal(viaHub.headers.get('location'), `${pages}/p/${publication.id}`);
    const viaHubDownload = await get(`${hub.url}/p/${publication.id}.ipynb`);
    assert.equal(viaHubDownload.headers.get('location'), `${pages}/p/${publication.id}.ipynb`);

    const page = await get(publication.url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /ZeroDivisionError/);
    assert.match(page.headers.get('content-security-policy') ?? '', /sandbox/);
    assert.equal(page.headers.get('set-cookie'), null, 'a public page sets no cookie');
  });

  test('the page origin serves published pages and nothing else', async () => {
    for (const path of ['/hub/home', '/hub/login', '/hub/api/', '/hub/api/users', '/user/alice/lab', '/hub/publications', '/']) {
      const res = await get(`${pages}${path}`, { Authorization: `token ${tokens.alice}` });
      assert.equal(res.status, 404, `${path} on the page origin`);
      assert.match(await res.text(), /published notebooks only/);
    }
    // and the hub still answers on its own address
    assert.equal((await get(`${hub.url}/hub/api/user`, { Authorization: `token ${tokens.alice}` })).status, 200);
  });

  test('restricted pages: the hub hands a signed grant to the page origin, which keeps it in a cookie of its own', async () => {
    const publication = await publish('group:physics');
    const first = await get(publication.url);
    assert.equal(first.status, 302, 'no grant yet: ask the hub');
    const toHub = new URL(first.headers.get('location')!);
    assert.equal(toHub.origin, hub.url);
    assert.equal(toHub.pathname, '/hub/publications/access');

    // bob (a member, signed in on the hub) gets a grant back; the hub's pages answer to sessions, not tokens
    const withToken = await get(toHub.toString(), { Authorization: `token ${tokens.bob}` });
    assert.match(withToken.headers.get('location') ?? '', /^\/hub\/login\?/, 'a token signs nobody in to the hand-off');
    const bob = await signIn(hub, 'bob', 'bob-password');
    const handoff = await get(toHub.toString(), { Cookie: bob.cookie });
    assert.equal(handoff.status, 302);
    const back = new URL(handoff.headers.get('location')!);
    assert.equal(back.origin, pages);
    assert.equal(back.pathname, `/p/${publication.id}/access`);
    const landed = await get(back.toString());
    assert.equal(landed.status, 302);
    assert.equal(landed.headers.get('location'), `/p/${publication.id}`);
    const cookie = landed.headers.get('set-cookie') ?? '';
    assert.match(cookie, new RegExp(`^refinery-pub-${publication.id}=`));
    assert.match(cookie, /; Path=\/p\/;/);
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Lax/);
    const pair = cookie.split(';')[0]!;
    const page = await get(publication.url, { Cookie: pair });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /ZeroDivisionError/);
    assert.equal((await get(`${publication.url}.ipynb`, { Cookie: pair })).status, 200, 'the download too');

    // the grant is for this publication only, and cannot be forged or replayed as a cookie
    const other = await publish('group:physics');
    assert.equal((await get(other.url, { Cookie: pair.replace(publication.id, other.id) })).status, 302);
    assert.equal((await get(publication.url, { Cookie: `${pair.slice(0, -3)}xyz` })).status, 302);
    const grant = back.searchParams.get('grant')!;
    assert.equal((await get(publication.url, { Cookie: `refinery-pub-${publication.id}=${grant}` })).status, 302, 'a hand-off grant is not a cookie grant');

    // carol is signed in but not a member: refused, and told so on the page origin
    const carol = await signIn(hub, 'carol', 'carol-password');
    const refused = await get(toHub.toString(), { Cookie: carol.cookie });
    assert.equal(refused.status, 302);
    const denied = await get(refused.headers.get('location')!);
    assert.equal(denied.status, 403);
    assert.doesNotMatch(await denied.text(), /ZeroDivisionError/);

    // signed out on the hub: sent to sign in first, then back through the hand-off
    const signedOut = await get(toHub.toString());
    assert.equal(signedOut.status, 302);
    assert.match(signedOut.headers.get('location')!, /^\/hub\/login\?next=%2Fhub%2Fpublications%2Faccess/);
  });

  test('unpublished: 410 on the page origin too, grants or not', async () => {
    const publication = await publish('public');
    assert.equal((await hub.as(tokens.alice!, `/hub/api/users/alice/publications/${publication.id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await get(publication.url)).status, 410);
    assert.equal((await get(`${publication.url}.ipynb`)).status, 410);
  });
});
