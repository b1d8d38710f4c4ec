// Published notebooks kept in an S3 bucket (publish.store.type: s3), against a real versitygw.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AwsClient } from 'aws4fetch';
import { S3PublicationStore, S3StoreError } from '../../src/publish/s3-store.js';
import { startS3Server, type S3Server } from '../helpers/s3-server.js';
import { launchRefinery, type RefineryProcess } from '../helpers/refinery.js';
import { notebookFileText, reportNotebook } from './notebooks.js';

describe('S3 publication store', () => {
  let s3: S3Server;
  let root: AwsClient;

  before(async () => {
    s3 = await startS3Server();
    root = new AwsClient({ ...s3.root, service: 's3', region: s3.region, retries: 0 });
    const made = await root.fetch(`${s3.url}/pubs`, { method: 'PUT' });
    assert.equal(made.status, 200, await made.text());
  });
  after(() => s3?.stop());

  const store = (o: Partial<ConstructorParameters<typeof S3PublicationStore>[0]> = {}) =>
    new S3PublicationStore({ url: s3.url, region: s3.region, pathStyle: true, bucket: 'pubs', prefix: 'refinery/', ...s3.root, ...o });

  test('put, get, replace and delete, under the prefix; a missing key is undefined', async () => {
    const s = store();
    await s.check();
    await s.put('abc/1.ipynb', Buffer.from('{"one": 1}'));
    assert.equal((await s.get('abc/1.ipynb'))?.toString(), '{"one": 1}');
    const raw = await root.fetch(`${s3.url}/pubs/refinery/abc/1.ipynb`);
    assert.equal(raw.status, 200, 'the object lives under the prefix');
    await s.put('abc/1.ipynb', Buffer.from('{"two": 2}'));
    assert.equal((await s.get('abc/1.ipynb'))?.toString(), '{"two": 2}');
    await s.delete('abc/1.ipynb');
    assert.equal(await s.get('abc/1.ipynb'), undefined);
    await s.delete('abc/1.ipynb'); // deleting again is fine
    await assert.rejects(s.get('../escape'), /invalid publication store key/);
  });

  test('a wrong key or a missing bucket: errors say what and where, never the secret', async () => {
    const wrong = store({ secretAccessKey: 'not-the-right-secret-0123456789abcdefghij' });
    await assert.rejects(wrong.put('k/x.ipynb', Buffer.from('{}')), (e: unknown) => e instanceof S3StoreError && /storing k\/x\.ipynb in bucket pubs .* HTTP 403/.test(e.message) && !e.message.includes('not-the-right-secret'));
    await assert.rejects(wrong.check(), /may not use the bucket/);
    await assert.rejects(store({ bucket: 'nope' }).check(), /bucket nope .*does not exist/);
  });

  describe('through the hub', () => {
    let hub: RefineryProcess;
    let token: string;
    before(async () => {
      hub = await launchRefinery({
        env: { TEST_PUB_SECRET: s3.root.secretAccessKey },
        config: {
          storage: { endpoints: [{ name: 'lake', url: s3.url, region: s3.region }] },
          publish: { store: { type: 's3', endpoint: 'lake', bucket: 'pubs', access_key: s3.root.accessKeyId, secret_key: { env: 'TEST_PUB_SECRET' } } },
        },
      });
      assert.equal((await hub.api('/hub/api/users', { method: 'POST', body: JSON.stringify({ usernames: ['ada'] }) })).status, 201);
      token = await hub.tokenFor('ada');
    });
    after(() => hub?.cleanup());

    test('publish stores the notebook in the bucket, the page and download come from it, unpublish removes it', async () => {
      const text = notebookFileText(reportNotebook());
      const res = await hub.as(token, '/hub/api/users/ada/publications', { method: 'POST', body: `{"title": "In the bucket", "visibility": "public", "notebook": ${text}}` });
      assert.equal(res.status, 201, await res.clone().text());
      const publication = (await res.json()) as { id: string; url: string };
      const list = await (await root.fetch(`${s3.url}/pubs?list-type=2&prefix=publications/`)).text();
      const keys = [...list.matchAll(/<Key>([^<]+)<\/Key>/g)].map((m) => m[1]!);
      assert.equal(keys.length, 2, list);
      const notebook = keys.find((k) => k.endsWith('.ipynb'));
      assert.match(notebook ?? '', new RegExp(`^publications/${publication.id}/[0-9a-f-]+\\.ipynb$`));
      assert.ok(keys.includes(notebook!.replace(/\.ipynb$/, '.latest.html')), 'with its page, rendered when it was published');
      const page = await hub.as(null, `/p/${publication.id}`, { headers: { Accept: 'text/html' } });
      assert.equal(page.status, 200);
      assert.match(await page.text(), /In the bucket/);
      const gone = await hub.as(token, `/hub/api/users/ada/publications/${publication.id}`, { method: 'DELETE' });
      assert.ok(gone.status === 204 || gone.status === 200, String(gone.status));
      const after = await (await root.fetch(`${s3.url}/pubs?list-type=2&prefix=publications/`)).text();
      assert.doesNotMatch(after, /<Key>/);
    });
  });
});
