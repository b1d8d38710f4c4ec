// Publishing through the hub API, as the JupyterLab extension, scripts and people see it: create,
// list, read, update (versions under one link), unpublish (410 for everyone), who may open a page,
// who may publish, and precise answers for files that are not acceptable notebooks.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { launchRefinery, type RefineryProcess } from '../helpers/refinery.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { tmpDir } from '../helpers/tmp.js';
import { openDatabase } from '../../src/db/connect.js';
import { sql } from 'kysely';
import { nbformat3Notebook, notebookFileText, reportNotebook } from './notebooks.js';

interface Version { version: number; size: number; sha256: string; url: string; source_path: string }
interface Publication {
  id: string; owner: string; title: string; visibility: string; url: string; download_url: string | null;
  unpublished: string | null; latest_version: number | null; source_path: string; versions: Version[];
}

const MAX = 100_000;

describe('publications API', () => {
  let hub: RefineryProcess;
  const tokens: Record<string, string> = {};

  before(async () => {
    hub = await launchRefinery({ config: { publish: { max_size: '100k' } } });
    const created = await hub.api('/hub/api/users', { method: 'POST', body: JSON.stringify({ usernames: ['alice', 'bob', 'carol'] }) });
    assert.equal(created.status, 201, await created.text());
    assert.equal((await hub.api('/hub/api/groups/physics', { method: 'POST' })).status, 201);
    assert.equal((await hub.api('/hub/api/groups/physics/users', { method: 'POST', body: JSON.stringify({ users: ['bob'] }) })).status, 200);
    for (const name of ['alice', 'bob', 'carol', 'admin']) tokens[name] = await hub.tokenFor(name);
  });
  after(() => hub?.cleanup());

  const publish = async (token: string | null, user: string, body: unknown, init: RequestInit = {}) =>
    hub.as(token, `/hub/api/users/${user}/publications`, { method: 'POST', body: typeof body === 'string' || body instanceof FormData ? body : JSON.stringify(body), ...init });

  const created = async (res: Response): Promise<Publication> => {
    const text = await res.text();
    assert.equal(res.status, 201, text);
    return JSON.parse(text) as Publication;
  };

  /** The notebook as a multipart upload, the way the server extension sends it. */
  const form = (fileText: string, fields: Record<string, string> = {}) => {
    const data = new FormData();
    for (const [k, v] of Object.entries(fields)) data.append(k, v);
    data.append('notebook', new Blob([fileText], { type: 'application/x-ipynb+json' }), 'notebook.ipynb');
    return data;
  };

  const page = (token: string | null, path: string) => hub.as(token, path, { headers: { Accept: 'text/html' } });

  test('publish a notebook (JSON body): the link shows it to anyone, the download is the notebook as sent', async () => {
    const text = `{"title": "Growth report", "visibility": "public", "path": "work/report.ipynb",\n "notebook": ${JSON.stringify(reportNotebook(), null, 3)} }`;
    const publication = await created(await publish(tokens.alice!, 'alice', text));
    assert.equal(publication.title, 'Growth report');
    assert.equal(publication.visibility, 'public');
    assert.equal(publication.owner, 'alice');
    assert.equal(publication.latest_version, 1);
    assert.match(publication.id, /^[A-Za-z0-9_-]{22}$/, 'an unguessable id (128 random bits)');
    assert.equal(publication.url, `${hub.url}/p/${publication.id}`);
    assert.equal(publication.source_path, 'work/report.ipynb');

    const view = await page(null, `/p/${publication.id}`);
    const html = await view.text();
    assert.equal(view.status, 200, html.slice(0, 300));
    assert.match(view.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(html, /Growth report/);
    assert.match(html, /class="katex/, 'math rendered by KaTeX');
    assert.match(html, /<img[^>]+src="data:image\/png;base64,/, 'the PNG plot inline');
    assert.match(html, /ZeroDivisionError/);

    const csp = view.headers.get('content-security-policy') ?? '';
    assert.match(csp, /(^|;\s*)sandbox(\s|;|$)/, `sandboxed: ${csp}`);
    assert.doesNotMatch(csp, /allow-same-origin|allow-scripts/, csp);
    assert.equal(view.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(view.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(view.headers.get('cross-origin-resource-policy'), 'same-origin');

    const download = await hub.as(null, `/p/${publication.id}.ipynb`);
    assert.equal(download.status, 200);
    assert.match(download.headers.get('content-disposition') ?? '', /^attachment; filename="Growth report\.ipynb"/);
    const bytes = Buffer.from(await download.arrayBuffer());
    // exactly the text of the "notebook" value as it was in the request body
    const start = text.indexOf('"notebook": ') + '"notebook": '.length;
    assert.equal(bytes.toString('utf8'), text.slice(start, text.lastIndexOf('}')).trimEnd());
  });

  test('publish as multipart/form-data: the file comes back byte for byte', async () => {
    const fileText = notebookFileText(reportNotebook({ marker: 'multipart' }));
    const publication = await created(await publish(tokens.alice!, 'alice', form(fileText, { title: 'Multipart', path: 'm.ipynb' })));
    const download = await hub.as(null, `/p/${publication.id}.ipynb`);
    assert.equal(download.status, 200);
    assert.deepEqual(Buffer.from(await download.arrayBuffer()), Buffer.from(fileText));
    assert.equal(publication.versions[0]!.size, Buffer.byteLength(fileText));
  });

  test('list and read: no storage details, only what the owner chose', async () => {
    const publication = await created(await publish(tokens.bob!, 'bob', { title: 'Listed', notebook: reportNotebook() }));
    const list = await hub.as(tokens.bob!, '/hub/api/users/bob/publications');
    assert.equal(list.status, 200);
    const text = await list.text();
    const items = JSON.parse(text) as Publication[];
    assert.deepEqual(items.map((p) => p.id), [publication.id]);
    assert.doesNotMatch(text, /blob|publications\/[A-Za-z0-9_-]+\/[0-9a-f-]{36}|\.sqlite/, 'no store keys or paths');
    assert.ok(!text.includes(hub.dataDir), 'no paths on the hub machine');
    const one = await hub.as(tokens.bob!, `/hub/api/users/bob/publications/${publication.id}`);
    assert.equal(one.status, 200);
    assert.equal(((await one.json()) as Publication).title, 'Listed');
    // an admin reads anyone's; another user gets 404 as for users they may not see
    assert.equal((await hub.as(tokens.admin!, `/hub/api/users/bob/publications/${publication.id}`)).status, 200);
    assert.equal((await hub.as(tokens.carol!, `/hub/api/users/bob/publications/${publication.id}`)).status, 404);
    assert.equal((await hub.as(tokens.carol!, '/hub/api/users/bob/publications')).status, 404);
    // someone else's id under my name is not found either
    assert.equal((await hub.as(tokens.alice!, `/hub/api/users/alice/publications/${publication.id}`)).status, 404);
  });

  test('update: a new version under the same link; earlier versions stay reachable', async () => {
    const first = await created(await publish(tokens.alice!, 'alice', form(notebookFileText(reportNotebook({ marker: 'version-one' })), { title: 'Versions' })));
    const secondText = notebookFileText(reportNotebook({ marker: 'version-two' }));
    const res = await hub.as(tokens.alice!, `/hub/api/users/alice/publications/${first.id}`, { method: 'PUT', body: form(secondText, { path: 'v2.ipynb' }) });
    const updated = (await res.json()) as Publication;
    assert.equal(res.status, 200, JSON.stringify(updated));
    assert.equal(updated.id, first.id, 'the same link');
    assert.equal(updated.latest_version, 2);
    assert.deepEqual(updated.versions.map((v) => v.version), [1, 2]);
    assert.equal(updated.title, 'Versions', 'the title stays unless changed');

    assert.match(await (await page(null, `/p/${first.id}`)).text(), /version-two/);
    const v1 = await (await page(null, `/p/${first.id}/v/1`)).text();
    assert.match(v1, /version-one/);
    assert.doesNotMatch(v1, /version-two/);
    assert.match(Buffer.from(await (await hub.as(null, `/p/${first.id}/v/1.ipynb`)).arrayBuffer()).toString(), /version-one/);
    assert.deepEqual(Buffer.from(await (await hub.as(null, `/p/${first.id}.ipynb`)).arrayBuffer()), Buffer.from(secondText));
    assert.equal((await page(null, `/p/${first.id}/v/3`)).status, 404);

    // title and visibility alone: no new version
    const renamed = await hub.as(tokens.alice!, `/hub/api/users/alice/publications/${first.id}`, { method: 'PUT', body: JSON.stringify({ title: 'Renamed' }) });
    const model = (await renamed.json()) as Publication;
    assert.equal(model.title, 'Renamed');
    assert.equal(model.latest_version, 2);
    assert.match(await (await page(null, `/p/${first.id}`)).text(), /Renamed/);
  });

  test('unpublish: 410 Gone for everyone, the stored notebooks are deleted, the record stays', async () => {
    const publication = await created(await publish(tokens.alice!, 'alice', form(notebookFileText(reportNotebook()), { title: 'Short-lived' })));
    await hub.as(tokens.alice!, `/hub/api/users/alice/publications/${publication.id}`, { method: 'PUT', body: form(notebookFileText(reportNotebook({ marker: 'again' }))) });
    const store = join(hub.dataDir, 'publications', publication.id);
    const stored = readdirSync(store);
    assert.equal(stored.filter((f) => f.endsWith('.ipynb')).length, 2, 'two versions stored');
    assert.equal(stored.filter((f) => f.endsWith('.latest.html')).length, 2, 'each with its page, rendered when it was published');

    const del = await hub.as(tokens.alice!, `/hub/api/users/alice/publications/${publication.id}`, { method: 'DELETE' });
    assert.equal(del.status, 204);
    for (const token of [null, tokens.alice!, tokens.bob!, tokens.admin!]) {
      for (const path of [`/p/${publication.id}`, `/p/${publication.id}.ipynb`, `/p/${publication.id}/v/1`, `/p/${publication.id}/v/2.ipynb`]) {
        const res = await page(token, path);
        assert.equal(res.status, 410, `${path} as ${token ? 'a user' : 'nobody'}`);
      }
    }
    assert.match(await (await page(null, `/p/${publication.id}`)).text(), /unpublished/i);
    assert.equal(existsSync(store), false, 'the stored notebooks are gone');

    const model = (await (await hub.as(tokens.alice!, `/hub/api/users/alice/publications/${publication.id}`)).json()) as Publication;
    assert.ok(model.unpublished, 'the owner still sees when it was unpublished');
    assert.equal(model.download_url, null);
    const listed = (await (await hub.as(tokens.alice!, '/hub/api/users/alice/publications')).json()) as Publication[];
    assert.ok(!listed.some((p) => p.id === publication.id), 'unpublished ones are not listed by default');
    const all = (await (await hub.as(tokens.alice!, '/hub/api/users/alice/publications?include_unpublished=1')).json()) as Publication[];
    assert.ok(all.some((p) => p.id === publication.id));
    const again = await hub.as(tokens.alice!, `/hub/api/users/alice/publications/${publication.id}`, { method: 'PUT', body: form(notebookFileText(reportNotebook())) });
    assert.equal(again.status, 410, 'an unpublished link cannot be revived');
    assert.equal((await hub.as(tokens.alice!, `/hub/api/users/alice/publications/${publication.id}`, { method: 'DELETE' })).status, 204, 'unpublishing twice is fine');
  });

  test('visibility: hub users, a group, the owner and admins', async () => {
    const users = await created(await publish(tokens.alice!, 'alice', { title: 'For colleagues', visibility: 'users', notebook: reportNotebook() }));
    const group = await created(await publish(tokens.alice!, 'alice', { title: 'For physics', visibility: 'group:physics', notebook: reportNotebook() }));

    // signed out: a browser is sent to sign in, and comes back here
    const signedOut = await page(null, `/p/${users.id}`);
    assert.equal(signedOut.status, 302);
    assert.equal(signedOut.headers.get('location'), `/hub/login?next=${encodeURIComponent(`/p/${users.id}`)}`);
    assert.equal((await page(null, `/p/${users.id}.ipynb`)).status, 302);
    assert.equal((await page(tokens.carol!, `/p/${users.id}`)).status, 200, 'any signed-in user');

    assert.equal((await page(null, `/p/${group.id}`)).status, 302);
    assert.equal((await page(tokens.bob!, `/p/${group.id}`)).status, 200, 'a member of physics');
    const outsider = await page(tokens.carol!, `/p/${group.id}`);
    assert.equal(outsider.status, 403, 'not a member');
    assert.doesNotMatch(await outsider.text(), /ZeroDivisionError/);
    assert.equal((await page(tokens.carol!, `/p/${group.id}.ipynb`)).status, 403);
    assert.equal((await page(tokens.alice!, `/p/${group.id}`)).status, 200, 'the owner');
    assert.equal((await page(tokens.admin!, `/p/${group.id}`)).status, 200, 'an admin');

    // joining the group opens it; making it public opens it to everyone
    assert.equal((await hub.api('/hub/api/groups/physics/users', { method: 'POST', body: JSON.stringify({ users: ['carol'] }) })).status, 200);
    assert.equal((await page(tokens.carol!, `/p/${group.id}`)).status, 200);
    const opened = await hub.as(tokens.alice!, `/hub/api/users/alice/publications/${group.id}`, { method: 'PUT', body: JSON.stringify({ visibility: 'public' }) });
    assert.equal(opened.status, 200);
    assert.equal((await page(null, `/p/${group.id}`)).status, 200);

    // no such page: 404 whoever asks
    assert.equal((await page(null, '/p/AAAAAAAAAAAAAAAAAAAAAA')).status, 404);
    assert.equal((await page(null, '/p/not-a-slug')).status, 404);
  });

  test('who may publish: the owner, their server token, admins; not others', async () => {
    const notebook = reportNotebook();
    // a server's own JUPYTERHUB_API_TOKEN carries exactly these (JupyterHub's server role)
    const serverLike = await hub.tokenFor('alice', { scopes: ['users:activity!user', 'access:servers!server=alice/'] });
    await created(await publish(serverLike, 'alice', { title: 'From the server', notebook }));
    await created(await publish(tokens.admin!, 'alice', { title: 'By an admin', notebook }));

    const bob = await publish(tokens.bob!, 'alice', { title: 'Not mine', notebook });
    assert.equal(bob.status, 404, 'another user: as if alice did not exist');
    const readOnly = await hub.tokenFor('alice', { scopes: ['read:users!user'] });
    const refused = await publish(readOnly, 'alice', { title: 'Read-only token', notebook });
    assert.equal(refused.status, 403);
    assert.match(((await refused.json()) as { message: string }).message, /users:activity/);
    assert.equal((await hub.as(readOnly, '/hub/api/users/alice/publications')).status, 200, 'reading needs read:users only');
    assert.equal((await publish(null, 'alice', { title: 'Anonymous', notebook })).status, 403);
    const listed = (await (await hub.as(tokens.alice!, '/hub/api/users/alice/publications')).json()) as Publication[];
    assert.ok(!listed.some((p) => ['Not mine', 'Read-only token', 'Anonymous'].includes(p.title)));
  });

  test('files that are not acceptable notebooks: 400 or 413 saying what is wrong and where', async () => {
    const refused = async (body: unknown, status: number, pattern: RegExp) => {
      const res = await publish(tokens.alice!, 'alice', body);
      const answer = (await res.json()) as { status: number; message: string };
      assert.equal(res.status, status, JSON.stringify(answer));
      assert.match(answer.message, pattern);
      return answer.message;
    };
    await refused('this is not json', 400, /^body: not valid JSON/);
    await refused({ title: 'x' }, 400, /^notebook: missing/);
    await refused(form('{"cells": [', { title: 'Broken' }), 400, /^notebook: .*JSON/i);
    await refused(form('print("hello")\n', { title: 'Python' }), 400, /^notebook: /);
    await refused({ title: 'Old', notebook: nbformat3Notebook() }, 400, /^notebook: .*nbformat 3|version 3|v3/i);
    const bad = reportNotebook();
    ((bad.cells as Record<string, unknown>[])[1]!.outputs as Record<string, unknown>[])[0]!.output_type = 'picture';
    await refused({ title: 'Bad output', notebook: bad }, 400, /^notebook: cells\[1\]\.outputs\[0\]/);
    const noSource = reportNotebook();
    delete (noSource.cells as Record<string, unknown>[])[0]!.source;
    await refused({ title: 'No source', notebook: noSource }, 400, /^notebook: cells\[0\].*source/);
    await refused({ title: 'Bad visibility', visibility: 'everyone', notebook: reportNotebook() }, 400, /^visibility: expected "public", "users" or "group:<name>"/);
    await refused({ title: 'No group', visibility: 'group:chemistry', notebook: reportNotebook() }, 400, /^visibility: there is no group named "chemistry"/);
    await refused({ title: 'Extra', notebook: reportNotebook(), colour: 'red' }, 400, /unknown field "colour"/);

    const big = reportNotebook();
    (big.cells as Record<string, unknown>[])[0]!.source = 'x'.repeat(MAX + 10);
    const message = await refused(form(notebookFileText(big), { title: 'Huge' }), 413, /^notebook: /);
    assert.match(message, /100 kB/, 'names the limit');
    assert.match(message, /publish\.max_size/, 'names the setting');
    // far over the limit: refused before it is all read, with the same kind of answer
    const huge = await publish(tokens.alice!, 'alice', form("x".repeat(20 * MAX), { title: 'Enormous' }));
    assert.equal(huge.status, 413);
    assert.match(((await huge.json()) as { message: string }).message, /publish\.max_size/);
    const listed = (await (await hub.as(tokens.alice!, '/hub/api/users/alice/publications')).json()) as Publication[];
    assert.ok(!listed.some((p) => ['Broken', 'Python', 'Old', 'Bad output', 'Huge', 'Enormous'].includes(p.title)), 'nothing refused was stored');
  });
});

describe('publications on PostgreSQL', () => {
  let pg: TestPostgres;
  let hub: RefineryProcess;
  let token: string;

  before(async () => {
    pg = await startPostgres();
    hub = await launchRefinery({ config: { database: pg.url } });
    assert.equal((await hub.api('/hub/api/users', { method: 'POST', body: JSON.stringify({ usernames: ['dora'] }) })).status, 201);
    token = await hub.tokenFor('dora');
  });
  after(async () => {
    await hub?.cleanup();
    await pg?.stop();
  });

  test('publish, concurrent updates get distinct version numbers, unpublish', async () => {
    const res = await hub.as(token, '/hub/api/users/dora/publications', { method: 'POST', body: JSON.stringify({ title: 'On PostgreSQL', notebook: reportNotebook() }) });
    assert.equal(res.status, 201, await res.clone().text());
    const { id } = (await res.json()) as Publication;
    const updates = await Promise.all(['a', 'b', 'c'].map((marker) =>
      hub.as(token, `/hub/api/users/dora/publications/${id}`, { method: 'PUT', body: JSON.stringify({ notebook: reportNotebook({ marker: `update-${marker}` }) }) })));
    assert.deepEqual(updates.map((r) => r.status), [200, 200, 200]);
    const model = (await (await hub.as(token, `/hub/api/users/dora/publications/${id}`)).json()) as Publication;
    assert.deepEqual(model.versions.map((v) => v.version), [1, 2, 3, 4]);
    assert.equal(new Set(model.versions.map((v) => v.sha256)).size, 4, 'each version its own notebook');
    for (const v of model.versions) assert.equal((await hub.as(null, `/p/${id}/v/${v.version}.ipynb`)).status, 200);
    assert.equal((await hub.as(token, `/hub/api/users/dora/publications/${id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await hub.as(null, `/p/${id}`)).status, 410);
  });
});

describe('the publications migration', () => {
  test('a database migrated before publications existed (0001, 0003) takes 0002_publications at the next start', async () => {
    const dir = await tmpDir('publish-migration');
    try {
      const path = join(dir.path, 'refinery.sqlite');
      let db = await openDatabase({ kind: 'sqlite', path });
      // make it look like a database from before publications: 0002 not run, its tables absent
      await sql`DELETE FROM refinery_migrations WHERE name = '0002_publications'`.execute(db.kysely);
      await sql`DROP TABLE publication_versions`.execute(db.kysely);
      await sql`DROP TABLE publications`.execute(db.kysely);
      await db.close();
      db = await openDatabase({ kind: 'sqlite', path });
      const names = (await sql<{ name: string }>`SELECT name FROM refinery_migrations ORDER BY name`.execute(db.kysely)).rows.map((r) => r.name);
      assert.ok(names.includes('0002_publications') && names.includes('0003_clusters'), names.join(', '));
      assert.deepEqual(await db.kysely.selectFrom('publications').selectAll().execute(), []);
      await db.close();
    } finally {
      await dir.cleanup();
    }
  });
});
