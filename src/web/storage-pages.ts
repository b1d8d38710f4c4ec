import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HubContext } from '../context.js';
import type { Access } from '../policy/access.js';
import type { UserRow } from '../db/users.js';
import { storageOfUser, type StorageOfUser } from '../storage/for-user.js';
import type { AccessKey } from '../storage/credentials.js';
import type { StorageSummary } from '../storage/service.js';
import { html, type SafeHtml } from './html.js';
import { formFields, pageAccess, requirePageScope, sendPage, xsrfOf, signedInPerson } from './page-auth.js';

/** How to use the storage from a notebook: nothing to configure, the environment has it all. */
function snippets(summary: StorageSummary): SafeHtml {
  const bucket = summary.buckets[0] ?? 'my-bucket';
  const boto3 = `import boto3\n\ns3 = boto3.client("s3")  # endpoint, region and keys come from the environment\ns3.put_object(Bucket="${bucket}", Key="hello.txt", Body=b"hello")\nprint(s3.get_object(Bucket="${bucket}", Key="hello.txt")["Body"].read())`;
  const pandas = `import pandas as pd\n\ndf = pd.DataFrame({"x": [1, 2, 3]})\ndf.to_csv("s3://${bucket}/example.csv", index=False)\npd.read_csv("s3://${bucket}/example.csv")`;
  const spark = `from pyspark.sql import SparkSession\n\nspark = SparkSession.builder.getOrCreate()  # your cluster, already set up for s3a://\nspark.read.csv("s3a://${bucket}/example.csv", header=True).count()`;
  const dask = `import dask.dataframe as dd\nfrom distributed import Client\n\nclient = Client()  # your cluster\ndd.read_csv("s3://${bucket}/*.csv").x.sum().compute()`;
  const block = (title: string, code: string) => html`<details class="snippet"><summary>${title}</summary><pre><code>${code}</code></pre></details>`;
  return html`<div class="snippets">${block('boto3', boto3)}${block('pandas', pandas)}${block('Spark', spark)}${block('Dask', dask)}</div>`;
}

function serverList(servers: readonly string[]): string {
  return servers.map((s) => (s ? `server “${s}”` : 'your default server')).join(', ');
}

function entryCard(entry: StorageOfUser, xsrf: string, revealed: { endpoint: string; key: AccessKey } | null): SafeHtml {
  const s = entry.summary;
  if (!s) {
    return html`<section class="card storage-card"><h2>Object storage</h2><p class="muted small">For ${serverList(entry.servers)}</p><p class="error">${entry.error ?? 'unavailable'}</p></section>`;
  }
  const shown = revealed?.endpoint === s.endpoint ? revealed.key : null;
  return html`<section class="card storage-card" data-endpoint="${s.endpoint}" aria-labelledby="storage-${s.endpoint}">
  <h2 id="storage-${s.endpoint}">${s.endpoint}</h2>
  <p class="muted small">For ${serverList(entry.servers)}. Your servers and their clusters get these settings in their environment.</p>
  <dl class="facts">
    <dt>Endpoint</dt><dd><code>${s.url}</code></dd>
    <dt>Region</dt><dd><code>${s.region}</code></dd>
    <dt>Addressing</dt><dd>${s.path_style ? 'path-style' : 'virtual-hosted'}</dd>
    <dt>Buckets</dt><dd>${s.buckets.length ? s.buckets.map((b, i) => html`${i ? ', ' : ''}<code>${b}</code>`) : html`<span class="muted">none named</span>`}${s.buckets.length ? html` <span class="muted small">($S3_BUCKET is <code>${s.buckets[0]!}</code>)</span>` : ''}</dd>
    <dt>Keys</dt><dd>${s.credentials}</dd>
  </dl>
  ${shown
    ? html`<div class="notice" role="status" data-secret-notice>
    <p><strong>Your keys.</strong> Anyone with them can do what you can in these buckets: don't paste them into notebooks you share.</p>
    <dl class="facts mono"><dt>AWS_ACCESS_KEY_ID</dt><dd><code id="access-key">${shown.accessKeyId}</code></dd><dt>AWS_SECRET_ACCESS_KEY</dt><dd><code id="secret-key">${shown.secretAccessKey}</code></dd></dl>
    <p class="small muted"><a href="/hub/storage">Hide them</a></p>
  </div>`
    : html`<form method="post" action="/hub/storage/keys" class="inline"><input type="hidden" name="_xsrf" value="${xsrf}"><input type="hidden" name="endpoint" value="${s.endpoint}"><button>Show my keys</button></form>`}
  ${s.provisioned
    ? html`<form method="post" action="/hub/storage/rotate" class="inline" data-confirm="Replace your key? The old one stops working now; running servers and clusters need a restart to get the new one."><input type="hidden" name="_xsrf" value="${xsrf}"><input type="hidden" name="endpoint" value="${s.endpoint}"><button class="danger">Replace my key</button></form>`
    : ''}
  <h3>Use it</h3>
  ${snippets(s)}
</section>`;
}

export function storagePages(app: FastifyInstance, ctx: HubContext): void {
  const me = async (req: FastifyRequest, reply: FastifyReply): Promise<{ access: Access; user: UserRow } | undefined> => {
    const access = pageAccess(req, reply);
    if (!access) return undefined;
    const user = await signedInPerson(ctx.db, access, 'Only people have object storage');
    // what GET /hub/api/users/{name}/storage asks
    requirePageScope(access, 'read:servers', { user: user.name }, 'see this storage');
    return { access, user };
  };

  const render = async (reply: FastifyReply, access: Access, user: UserRow, options: { revealed?: { endpoint: string; key: AccessKey }; notice?: string; error?: string; status?: number } = {}) => {
    const entries = await storageOfUser(ctx.db, ctx.catalog.current(), ctx.storage, user);
    const xsrf = xsrfOf(access);
    const body = html`<div class="page-header"><div><h1>Object storage</h1><p class="muted">Where your data lives, and the keys your servers use for it.</p></div></div>
${options.notice ? html`<div class="notice success" role="status"><p>${options.notice}</p></div>` : ''}
${options.error ? html`<div class="notice danger" role="alert"><p>${options.error}</p></div>` : ''}
${entries.length
    ? entries.map((e) => entryCard(e, xsrf, options.revealed ?? null))
    : html`<div class="empty-state"><h3>No object storage</h3><p>None of the images and profiles you use come with object storage. Ask an administrator if you need some.</p></div>`}`;
    // a page with keys on it is never cached, by the browser or anything between
    return sendPage(reply, access, { title: 'Object storage', body, section: 'storage', status: options.status ?? 200, scripts: ['/hub/static/forms.js'], noStore: true });
  };

  /** A form posted from the page: who, the storage entry it names (by endpoint), or undefined after a redirect to sign in. */
  const posted = async (req: FastifyRequest, reply: FastifyReply) => {
    const who = await me(req, reply);
    if (!who) return undefined;
    const endpoint = formFields(req).endpoint;
    const entries = await storageOfUser(ctx.db, ctx.catalog.current(), ctx.storage, who.user);
    return { ...who, endpoint, entry: entries.find((e) => e.summary?.endpoint === endpoint) };
  };

  app.get('/hub/storage', async (req, reply) => {
    const who = await me(req, reply);
    if (!who) return reply;
    return render(reply, who.access, who.user);
  });

  app.post('/hub/storage/keys', async (req, reply) => {
    const form = await posted(req, reply);
    if (!form) return reply;
    const { access, user, entry } = form;
    // the keys are what this person's servers run with: only someone who could start those servers and
    // read them from inside may see them
    requirePageScope(access, 'servers', { user: user.name }, 'see these keys');
    requirePageScope(access, 'access:servers', { user: user.name }, 'see these keys');
    if (!entry?.summary) return render(reply, access, user, { error: 'You have no object storage at that endpoint.', status: 404 });
    try {
      const key = await ctx.storage.keys(entry.settings, entry.person);
      ctx.log.info({ user: user.name, endpoint: form.endpoint }, 'showed a person their storage keys');
      return render(reply, access, user, { revealed: { endpoint: entry.summary.endpoint, key } });
    } catch (error) {
      return render(reply, access, user, { error: error instanceof Error ? error.message : String(error), status: 502 });
    }
  });

  app.post('/hub/storage/rotate', async (req, reply) => {
    const form = await posted(req, reply);
    if (!form) return reply;
    const { access, user, entry } = form;
    // what POST /hub/api/users/{name}/storage/{endpoint}/rotate asks
    requirePageScope(access, 'servers', { user: user.name }, 'replace this key');
    if (!entry?.summary?.provisioned) return render(reply, access, user, { error: 'Refinery does not manage your key at that endpoint, so it cannot replace it.', status: 400 });
    try {
      await ctx.storage.rotate(entry.summary.endpoint, user);
      return render(reply, access, user, { notice: 'Your key was replaced. Restart running servers to give them the new one.' });
    } catch (error) {
      return render(reply, access, user, { error: error instanceof Error ? error.message : String(error), status: 502 });
    }
  });
}
