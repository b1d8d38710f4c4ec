/**
 * Published notebooks on the web: the read-only pages anyone with the link may open (`/p/<slug>`, a
 * version `/p/<slug>/v/<n>`, the download `/p/<slug>.ipynb`), and the hub's "My publications" page.
 *
 * A published notebook is an untrusted document. Its page is served with the renderer's
 * Content-Security-Policy plus `sandbox` (never allow-same-origin, so the document runs in an opaque
 * origin even where it shares the hub's), nosniff, no referrer, and a same-origin resource policy.
 * With `publish.public_url` set, pages are served only on that origin: the hub's own address
 * redirects there, that origin serves nothing but pages and their assets, and the hub's session
 * cookie (host-only) never reaches it. Pages restricted to hub users or a group then learn who is
 * looking through a short hand-off: the hub (where the person is signed in) checks the visibility and
 * redirects back with a signed, short-lived grant, which the page origin turns into a cookie of its
 * own, good for that publication only.
 */
import { createHmac } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HubContext } from '../context.js';
import type { Access } from '../policy/access.js';
import { findUser } from '../db/users.js';
import type { PublicationVersionRow, PublicationWithOwner } from '../db/publications.js';
import type { Viewer } from '../publish/service.js';
import { publicationLinks } from '../publish/links.js';
import { HttpError, httpErrorOf } from '../http/errors.js';
import { html, SafeHtml } from './html.js';
import { pageAccess, queryFields, requirePageScope, sendPage, xsrfOf, signedInPerson } from './page-auth.js';
import { timeTag } from './format.js';
import { formatBytes } from '../util/units.js';
import { sameSiteTarget } from './next.js';
import { publicationPageHost } from '../http/publish-front.js';
import { ViewGrants } from '../publish/grants.js';
import { downloadName } from '../publish/pages.js';
import { QueueFullError } from '../util/work-queue.js';
import { mayManagePublicationsOf, mayReadPublicationsOf, READ_PUBLICATION_SCOPES } from '../policy/rules.js';

/** How long a reader is asked to wait when every render thread is busy and the queue is full. */
const BUSY_RETRY_SECONDS = 10;

const SLUG = /^[A-Za-z0-9_-]{16,64}$/;
const GRANT_COOKIE_PREFIX = 'refinery-pub-';
/** How long a page origin's grant cookie lasts; the hand-off repeats silently after that. */
const GRANT_SECONDS = 3600;
/** How long the grant in a hand-off redirect may take to arrive. */
const HANDOFF_SECONDS = 60;

/** Sandboxed: no scripts, no same origin, no forms; the page's Download link still works (the renderer needs only that). */
const SANDBOX = 'sandbox allow-downloads';

/** The Content-Security-Policy of a published page: the renderer's, plus sandbox and no framing. */
export function publishedPagePolicy(rendererPolicy: string): string {
  const directives = rendererPolicy
    .split(';')
    .map((d) => d.trim())
    .filter((d) => d && !/^sandbox\b/i.test(d));
  if (!directives.some((d) => /^frame-ancestors\b/i.test(d))) directives.push("frame-ancestors 'none'");
  directives.push(SANDBOX);
  return directives.join('; ');
}

/**
 * Where the hand-off may land: a page of this one publication (`/p/<slug>`, its download, a version),
 * as a path on the page origin; anything else lands on the publication itself.
 */
export function publicationTarget(slug: string, next: string | undefined): string {
  const fallback = `/p/${slug}`;
  const path = next === undefined ? undefined : sameSiteTarget(next);
  if (!path) return fallback;
  const { pathname } = new URL(path, 'http://refinery.invalid');
  const segments = pathname.split('/').slice(1);
  if (segments[0] !== 'p') return fallback;
  if (segments.length === 2 && (segments[1] === slug || segments[1] === `${slug}.ipynb`)) return pathname;
  if (segments.length === 4 && segments[1] === slug && segments[2] === 'v' && /^[1-9]\d{0,8}(?:\.ipynb)?$/.test(segments[3]!)) return pathname;
  return fallback;
}

function cookieOf(req: FastifyRequest, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * A small self-contained page (no hub layout, no scripts) for answers on the page origin, styled with
 * the renderer's inline stylesheet (which the page policy allows by hash, so it must be inserted as is).
 */
function plainPage(title: string, message: string, css: string): string {
  return html`<!doctype html>
<html lang="en" data-theme="auto"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><meta name="referrer" content="no-referrer"><meta name="robots" content="noindex, nofollow">
<title>${title}</title>
<style>${new SafeHtml(css)}</style>
</head>
<body>
<header class="rf-header"><div class="rf-header-inner"><div class="rf-heading"><h1 class="rf-title">${title}</h1></div></div></header>
<div class="rf-layout"><main class="rf-notebook"><p>${message}</p></main></div>
</body></html>
`.value;
}

function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

export function publishPages(app: FastifyInstance, ctx: HubContext): void {
  const grants = new ViewGrants();
  const separate = () => publicationPageHost(ctx) !== undefined;
  const hubOrigin = () => ctx.urls.publicOrigin || new URL(ctx.urls.apiUrl).origin;
  const css = () => ctx.publications.inlineCss;

  const viewerOf = async (name: string): Promise<Viewer> => {
    const user = await findUser(ctx.db, name);
    if (!user) return null;
    const groups = (await ctx.identities.groupLookup())(user.name);
    return { name: user.name, admin: !!user.admin, groups };
  };
  const viewerFromAccess = async (access: Access | null): Promise<Viewer> =>
    access && access.identity.kind === 'user' ? viewerOf(access.identity.name) : null;

  /**
   * Who is looking: the browser session (on the hub's origin), a grant cookie for this publication (on
   * the page origin), or a program's API token, which stands for its owner only when it could read
   * the owner's publications through the API anyway, or carries everything its owner may do
   * (`inherit`, as much as a session): a token that merely says who someone is (as a server's sign-in
   * hands out) opens nothing that is not public.
   */
  const viewerFor = async (req: FastifyRequest, publication: PublicationWithOwner): Promise<Viewer> => {
    const access = req.access;
    if (access?.identity.via === 'token') {
      if (separate() && !req.headers.authorization) return null;
      return mayReadPublicationsOf(access, publication.owner) ? viewerFromAccess(access) : null;
    }
    if (!separate()) return viewerFromAccess(access);
    const user = grants.verify('cookie', publication.slug, cookieOf(req, `${GRANT_COOKIE_PREFIX}${publication.slug}`));
    return user ? viewerOf(user) : null;
  };

  // ---------------------------------------------------------------------------------- the viewer
  void app.register(async (viewer) => {
    // after the hub's own onSend (which gives HTML its page policy): published pages get theirs
    viewer.addHook('onSend', async (_req, reply, payload) => {
      reply.header('Content-Security-Policy', publishedPagePolicy(ctx.publications.pagePolicy));
      reply.header('X-Content-Type-Options', 'nosniff');
      reply.header('Referrer-Policy', 'no-referrer');
      reply.header('Cross-Origin-Resource-Policy', 'same-origin');
      reply.header('X-Frame-Options', 'DENY');
      return payload;
    });
    viewer.setErrorHandler(async (error: Error & { statusCode?: number }, req, reply) => {
      if (error instanceof QueueFullError) {
        return reply.code(503).type('text/html; charset=utf-8').header('Cache-Control', 'no-store').header('Retry-After', String(BUSY_RETRY_SECONDS))
          .send(plainPage('Busy', `Many notebooks are being prepared for reading right now. Please try again in ${BUSY_RETRY_SECONDS} seconds.`, css()));
      }
      const answer = httpErrorOf(error);
      const status = answer ? answer.status : error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
      if (status === 500) ctx.log.error({ err: error, url: req.url.split('?')[0] }, 'published page failed');
      return reply.code(status).type('text/html; charset=utf-8').header('Cache-Control', 'no-store').send(plainPage(status === 404 ? 'Not found' : `Error ${status}`, status === 500 ? 'Something went wrong showing this page.' : (answer ?? error).message, css()));
    });

    const notFound = () => new HttpError(404, 'There is no published notebook at this address.');

    /** The publication, if this person may see it; otherwise the right answer (410, sign-in, 403/404). */
    const open = async (req: FastifyRequest, reply: FastifyReply, slug: string): Promise<PublicationWithOwner | undefined> => {
      if (!SLUG.test(slug)) throw notFound();
      const publication = await ctx.publications.find(slug);
      if (!publication) throw notFound();
      if (publication.deleted_at) {
        void reply.code(410).type('text/html; charset=utf-8').header('Cache-Control', 'no-store')
          .send(plainPage('This notebook was unpublished', 'Its author took it down. The link no longer works.', css()));
        return undefined;
      }
      reply.header('Cache-Control', publication.visibility === 'public' ? 'no-cache' : 'private, no-cache');
      if (ctx.publications.canView(publication, await viewerFor(req, publication))) return publication;
      const path = req.url.split('?')[0]!;
      if (separate()) {
        if (req.query && (req.query as Record<string, unknown>).denied !== undefined) {
          // came back from the hand-off without a grant: signed in but not allowed
          throw new HttpError(403, 'You do not have access to this notebook.');
        }
        void reply.redirect(`${hubOrigin()}/hub/publications/access?slug=${encodeURIComponent(slug)}&next=${encodeURIComponent(path)}`, 302);
        return undefined;
      }
      if (!req.access) {
        void reply.redirect(`/hub/login?next=${encodeURIComponent(path)}`, 302);
        return undefined;
      }
      throw new HttpError(403, 'You do not have access to this notebook.');
    };

    const sendPageOf = async (reply: FastifyReply, publication: PublicationWithOwner, version: PublicationVersionRow, latest: boolean) => {
      const links = publicationLinks('', publication.slug);
      const downloadUrl = latest ? links.download_url : `${links.version(version.version)}.ipynb`;
      const page = await ctx.publications.page(publication, version, latest ? 'latest' : 'version');
      if (page === undefined) throw new HttpError(410, 'This version is no longer stored.');
      const etag = `"p${version.id}-${version.sha256.slice(0, 16)}-${createHmac('sha256', 'etag').update(`${publication.title}\u0000${downloadUrl}`).digest('hex').slice(0, 8)}"`;
      return reply.header('ETag', etag).type('text/html; charset=utf-8').send(page);
    };

    const sendDownload = async (reply: FastifyReply, publication: PublicationWithOwner, version: PublicationVersionRow, latest: boolean) => {
      const bytes = await ctx.publications.bytesOf(version);
      if (!bytes) throw new HttpError(410, 'This version is no longer stored.');
      return reply
        .type('application/x-ipynb+json')
        .header('Content-Disposition', contentDisposition(downloadName(publication.title, latest ? undefined : version.version)))
        .header('ETag', `"${version.sha256}"`)
        .send(bytes);
    };

    // /p/<slug> and /p/<slug>.ipynb
    viewer.get<{ Params: { file: string } }>('/p/:file', async (req, reply) => {
      const download = req.params.file.endsWith('.ipynb');
      const slug = download ? req.params.file.slice(0, -'.ipynb'.length) : req.params.file;
      const publication = await open(req, reply, slug);
      if (!publication) return reply;
      const version = await ctx.publications.version(publication);
      if (!version) throw notFound();
      return download ? sendDownload(reply, publication, version, true) : sendPageOf(reply, publication, version, true);
    });

    // /p/<slug>/v/<n> and /p/<slug>/v/<n>.ipynb
    viewer.get<{ Params: { slug: string; file: string } }>('/p/:slug/v/:file', async (req, reply) => {
      const match = /^([1-9]\d{0,8})(\.ipynb)?$/.exec(req.params.file);
      if (!match) throw notFound();
      const publication = await open(req, reply, req.params.slug);
      if (!publication) return reply;
      const version = await ctx.publications.version(publication, Number(match[1]));
      if (!version) throw new HttpError(404, `This notebook has no version ${match[1]}.`);
      return match[2] ? sendDownload(reply, publication, version, false) : sendPageOf(reply, publication, version, false);
    });

    // The page origin's end of the hand-off: a grant from the hub becomes a cookie for this publication.
    viewer.get<{ Params: { slug: string }; Querystring: { grant?: string; next?: string } }>('/p/:slug/access', async (req, reply) => {
      const slug = req.params.slug;
      if (!separate() || !SLUG.test(slug)) throw notFound();
      const safeNext = publicationTarget(slug, req.query.next);
      const user = grants.verify('handoff', slug, req.query.grant);
      if (!user) return reply.redirect(`${safeNext}?denied=1`, 302);
      const secure = (ctx.config.publish.public_url ?? '').startsWith('https:');
      const cookie = `${GRANT_COOKIE_PREFIX}${slug}=${grants.sign('cookie', slug, user, GRANT_SECONDS)}; Path=/p/; Max-Age=${GRANT_SECONDS}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
      return reply.header('Set-Cookie', cookie).header('Cache-Control', 'no-store').redirect(safeNext, 302);
    });

  });

  // ---------------------------------------------------------------------------------- the hub side

  /** The hub's end of the hand-off (separate page origin only): check, then send a grant back. */
  app.get<{ Querystring: { slug?: string; next?: string } }>('/hub/publications/access', async (req, reply) => {
    const access = pageAccess(req, reply);
    if (!access) return reply;
    const slug = req.query.slug ?? '';
    const publication = SLUG.test(slug) ? await ctx.publications.find(slug) : undefined;
    if (!separate() || !publication) throw new HttpError(404, 'There is no published notebook at this address.');
    const base = ctx.config.publish.public_url!;
    const next = publicationTarget(slug, req.query.next);
    const viewer = await viewerFromAccess(access);
    reply.header('Referrer-Policy', 'no-referrer').header('Cache-Control', 'no-store');
    if (publication.deleted_at || !viewer || !ctx.publications.canView(publication, viewer)) {
      return reply.redirect(`${base}/p/${slug}?denied=1`, 302);
    }
    const grant = grants.sign('handoff', slug, viewer.name, HANDOFF_SECONDS);
    return reply.redirect(`${base}/p/${slug}/access?grant=${encodeURIComponent(grant)}&next=${encodeURIComponent(next)}`, 302);
  });

  /** My publications: links, versions, visibility, unpublish. */
  app.get('/hub/publications', async (req, reply) => {
    const access = pageAccess(req, reply);
    if (!access) return reply;
    const user = await signedInPerson(ctx.db, access, 'Only people have publications');
    // what GET /hub/api/users/{name}/publications asks
    requirePageScope(access, READ_PUBLICATION_SCOPES, { user: user.name }, 'see these publications');
    const rows = await ctx.publications.listOf(user.id);
    const versions = await ctx.publications.versionsOf(rows.map((r) => r.id));
    const base = ctx.config.publish.public_url ?? '';
    const notice = queryFields(req).done === 'unpublished' ? 'The notebook was unpublished. Its link now answers “gone”.' : undefined;
    const body = html`<div class="page-header">
  <div><h1>My publications</h1><p class="muted">Notebooks you published as read-only pages. Publish from JupyterLab with the <strong>Publish</strong> button in a notebook’s toolbar.</p></div>
</div>
${notice ? html`<div class="notice success" role="status"><p>${notice}</p></div>` : ''}
<section class="section" aria-labelledby="publications-title">
  <div class="section-header"><h2 id="publications-title">Published notebooks</h2><span class="muted small">${rows.length} published</span></div>
  ${rows.length
    ? html`<div class="table-wrap"><table class="stack-table" id="publications">
  <thead><tr><th scope="col">Title</th><th scope="col">Who can open it</th><th scope="col">Versions</th><th scope="col">Updated</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
  <tbody>
  ${rows.map((row) => publicationRow(row, versions.get(row.id) ?? [], base, xsrfOf(access)))}
  </tbody></table></div>`
    : html`<div class="empty-state"><h3>Nothing published yet</h3><p>Open a notebook in JupyterLab and press <strong>Publish</strong> in its toolbar.</p></div>`}
</section>`;
    return sendPage(reply, access, { title: 'My publications', body, section: 'publications', scripts: ['/hub/static/forms.js'] });
  });

  app.post<{ Params: { slug: string } }>('/hub/publications/:slug/unpublish', async (req, reply) => {
    const access = pageAccess(req, reply);
    if (!access) return reply;
    const publication = await ctx.publications.find(req.params.slug);
    if (!publication || !mayManagePublicationsOf(access, publication.owner)) throw new HttpError(404, 'There is no such publication.');
    if (!publication.deleted_at) await ctx.publications.unpublish(publication);
    return reply.redirect('/hub/publications?done=unpublished', 303);
  });
}

function visibilityLabel(visibility: string): SafeHtml {
  if (visibility === 'public') return html`<span class="badge">Anyone with the link</span>`;
  if (visibility === 'users') return html`<span class="badge">Hub users</span>`;
  return html`<span class="badge">Group <strong>${visibility.slice('group:'.length)}</strong></span>`;
}

function publicationRow(row: PublicationWithOwner, versions: readonly PublicationVersionRow[], base: string, xsrf: string): SafeHtml {
  const links = publicationLinks(base, row.slug);
  const latest = versions.at(-1);
  const versionLink = (v: PublicationVersionRow) => html`<a href="${links.version(v.version)}" target="_blank" rel="noopener noreferrer">v${v.version}</a> <span class="muted small">${timeTag(v.created)} · ${formatBytes(v.size)}</span>`;
  return html`<tr data-publication="${row.slug}">
    <th scope="row" data-label="Title"><a href="${links.url}" target="_blank" rel="noopener noreferrer">${row.title}</a>${latest?.source_path ? html`<div class="small muted mono">${latest.source_path}</div>` : ''}</th>
    <td data-label="Who can open it">${visibilityLabel(row.visibility)}</td>
    <td data-label="Versions">${versions.length > 1
    ? html`<details><summary>${versions.length} versions</summary><ul>${[...versions].reverse().map((v) => html`<li>${versionLink(v)}</li>`)}</ul></details>`
    : latest ? versionLink(latest) : ''}</td>
    <td data-label="Updated">${timeTag(row.updated)}</td>
    <td class="actions-cell"><form method="post" action="/hub/publications/${row.slug}/unpublish" class="inline" data-confirm="Unpublish “${row.title}”? Its link stops working for everyone."><input type="hidden" name="_xsrf" value="${xsrf}"><button class="danger sm">Unpublish<span class="sr-only"> ${row.title}</span></button></form></td>
  </tr>`;
}
