import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { HubContext } from '../../context.js';
import { authorize } from '../../policy/authorize.js';
import { HttpError } from '../../http/errors.js';
import { userFromPath } from '../models.js';
import { presentPublication } from '../../presenters/publication.js';
import type { PublicationWithOwner } from '../../db/publications.js';
import { formatBytes } from '../../util/units.js';
import { PUBLISH_SCOPES, READ_PUBLICATION_SCOPES } from '../../policy/rules.js';
import type { ScopeName } from '../../policy/scopes.js';
import { publicOrigin } from '../../http/origins.js';

/**
 * Who may manage and read a user's publications is policy/rules.ts's PUBLISH_SCOPES and
 * READ_PUBLICATION_SCOPES on the owner. A token that holds these only for other users gets 404
 * (nobody learns who exists); one without them at all gets 403. Who may *view* a published page is
 * the publication's visibility, decided by PublicationService.canView.
 */

type Params = { name: string; id: string };

/** Upload fields, from JSON or multipart/form-data. */
interface Upload {
  title?: string | undefined;
  visibility?: string | undefined;
  path?: string | undefined;
  notebook?: Buffer | undefined;
}

const FIELDS = new Set(['title', 'visibility', 'path', 'notebook']);

export function publicationRoutes(app: FastifyInstance, ctx: HubContext): void {
  const maxBytes = () => ctx.publications.maxBytes;
  // room for the envelope around the notebook (JSON escaping can nearly double it)
  const bodyLimit = () => 2 * maxBytes() + 1024 * 1024;
  const base = (req: FastifyRequest) => viewerBase(ctx, req);

  const model = async (row: PublicationWithOwner, req: FastifyRequest) => {
    const versions = (await ctx.publications.versionsOf([row.id])).get(row.id) ?? [];
    return presentPublication(row, versions, base(req));
  };

  const owned = async (req: FastifyRequest<{ Params: Params }>, scopes: readonly ScopeName[]) => {
    authorize(req.access, scopes, { user: req.params.name });
    const user = await userFromPath(ctx, req.params.name);
    const row = await ctx.publications.find(req.params.id);
    if (!row || row.user_id !== user.id) throw new HttpError(404, `${user.name} has no publication ${req.params.id}`);
    return { user, row };
  };

  void app.register(async (api) => {
    // Uploads are read as bytes (the notebook is stored exactly as sent), with a limit of our own so a
    // notebook over publish.max_size gets a 413 that says so.
    api.removeAllContentTypeParsers();
    // uploads may be large (publish.max_size): who may make one is decided before a byte of it is read
    api.addHook('preParsing', async (req, reply, payload) => {
      if (req.method !== 'POST' && req.method !== 'PUT') return payload;
      try {
        authorize(req.access, PUBLISH_SCOPES, { user: (req.params as { name: string }).name });
      } catch (error) {
        reply.header('Connection', 'close');
        throw error;
      }
      return payload;
    });
    api.addContentTypeParser('*', (req, payload, done) => {
      const limit = bodyLimit();
      // Past the limit the rest is read and dropped, so clients that send the whole body before reading
      // the answer (fetch, most HTTP libraries) still get the 413; only absurd sizes are cut off early.
      const hardLimit = 8 * limit + 64 * 1024 * 1024;
      const declared = Number(req.headers['content-length'] ?? NaN);
      if (declared > hardLimit) return done(tooLarge(declared, maxBytes()), undefined);
      const chunks: Buffer[] = [];
      let size = 0;
      let finished = false;
      const finish = (error: Error | null, body?: Buffer) => {
        if (finished) return;
        finished = true;
        done(error, body);
      };
      payload.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > hardLimit) return finish(tooLarge(size, maxBytes()));
        if (size <= limit) chunks.push(chunk);
        else chunks.length = 0;
      });
      payload.on('end', () => finish(size > limit ? tooLarge(size, maxBytes()) : null, size > limit ? undefined : Buffer.concat(chunks)));
      payload.on('error', (error) => finish(error));
    });

    /** List: `?include_unpublished=1` shows unpublished ones too (their links answer 410). */
    api.get<{ Params: { name: string }; Querystring: { include_unpublished?: string } }>('/hub/api/users/:name/publications', async (req) => {
      authorize(req.access, READ_PUBLICATION_SCOPES, { user: req.params.name });
      const user = await userFromPath(ctx, req.params.name);
      const flag = (req.query.include_unpublished ?? '').toLowerCase();
      const rows = await ctx.publications.listOf(user.id, { includeDeleted: flag !== '' && flag !== '0' && flag !== 'false' });
      const versions = await ctx.publications.versionsOf(rows.map((r) => r.id));
      return rows.map((row) => presentPublication(row, versions.get(row.id) ?? [], base(req)));
    });

    /** Publish: JSON `{title, visibility, path, notebook}` or multipart/form-data with a `notebook` file. */
    api.post<{ Params: { name: string } }>('/hub/api/users/:name/publications', async (req, reply) => {
      authorize(req.access, PUBLISH_SCOPES, { user: req.params.name });
      const user = await userFromPath(ctx, req.params.name);
      const upload = parseUpload(req);
      if (!upload.notebook) throw new HttpError(400, 'notebook: missing (send the notebook as the "notebook" field)');
      const { publication } = await ctx.publications
        .publish(user, { bytes: upload.notebook, title: upload.title, visibility: upload.visibility, path: upload.path });
      reply.code(201);
      return model(publication, req);
    });

    api.get<{ Params: Params }>('/hub/api/users/:name/publications/:id', async (req) => {
      const { row } = await owned(req, READ_PUBLICATION_SCOPES);
      return model(row, req);
    });

    /** Update: a new version under the same link (with `notebook`), and/or a new title or visibility. */
    api.put<{ Params: Params }>('/hub/api/users/:name/publications/:id', async (req) => {
      const { row } = await owned(req, PUBLISH_SCOPES);
      const upload = parseUpload(req);
      if (!upload.notebook && upload.title === undefined && upload.visibility === undefined) {
        throw new HttpError(400, 'body: nothing to change (send a notebook for a new version, or a title or visibility)');
      }
      const { publication } = await ctx.publications
        .update(row, { bytes: upload.notebook, title: upload.title, visibility: upload.visibility, path: upload.path });
      return model(publication, req);
    });

    /** Unpublish: the link answers 410 Gone for everyone; stored notebooks are deleted. Idempotent. */
    api.delete<{ Params: Params }>('/hub/api/users/:name/publications/:id', async (req, reply) => {
      const { row } = await owned(req, PUBLISH_SCOPES);
      if (!row.deleted_at) await ctx.publications.unpublish(row);
      reply.code(204);
    });
  });
}

function tooLarge(size: number, max: number): HttpError {
  return new HttpError(413, `notebook: the upload is ${formatBytes(size)} (${size} bytes); notebooks may be at most ${formatBytes(max)} (publish.max_size)`);
}

/**
 * Where published pages are, absolute: `publish.public_url` when set, else the hub's public URL, else
 * the address the request came in on.
 */
export function viewerBase(ctx: HubContext, req: FastifyRequest): string {
  return ctx.config.publish.public_url || publicOrigin(ctx, req);
}

function parseUpload(req: FastifyRequest): Upload {
  const body = Buffer.isBuffer(req.body) ? req.body : Buffer.from(typeof req.body === 'string' ? req.body : '');
  const type = String(req.headers['content-type'] ?? '').toLowerCase();
  if (type.startsWith('multipart/form-data')) return parseMultipart(body, String(req.headers['content-type']));
  return parseJsonUpload(body);
}

function textField(value: unknown, name: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new HttpError(400, `body.${name}: expected a string`);
  return value;
}

/**
 * `{"title": …, "visibility": …, "path": …, "notebook": {…}}`. The notebook is stored as the exact text
 * of its value in the body (or, when `notebook` is a string, as that string: the file's text).
 */
function parseJsonUpload(body: Buffer): Upload {
  const text = body.toString('utf8');
  if (text.trim() === '') throw new HttpError(400, 'body: expected a JSON object with "notebook" (or multipart/form-data)');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, `body: not valid JSON: ${(error as Error).message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new HttpError(400, 'body: expected a JSON object with "notebook"');
  const object = parsed as Record<string, unknown>;
  const unknown = Object.keys(object).filter((k) => !FIELDS.has(k));
  if (unknown.length) throw new HttpError(400, `body: unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')} (expected title, visibility, path, notebook)`);
  let notebook: Buffer | undefined;
  const value = object.notebook;
  if (typeof value === 'string') notebook = Buffer.from(value, 'utf8');
  else if (value !== undefined && value !== null) {
    if (typeof value !== 'object' || Array.isArray(value)) throw new HttpError(400, 'notebook: expected the notebook as a JSON object (or its file text as a string)');
    const span = topLevelValueSpan(text, 'notebook');
    notebook = Buffer.from(span ?? JSON.stringify(value), 'utf8');
  }
  return { title: textField(object.title, 'title'), visibility: textField(object.visibility, 'visibility'), path: textField(object.path, 'path'), notebook };
}

/** The source text of a top-level key's value in a JSON object text (already known to be valid JSON). */
export function topLevelValueSpan(text: string, key: string): string | undefined {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\r\n'.includes(text[i]!)) i++;
  };
  const skipString = () => {
    i++; // opening quote
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
  };
  const skipValue = () => {
    ws();
    if (text[i] === '"') return skipString();
    if (text[i] === '{' || text[i] === '[') {
      let depth = 0;
      while (i < text.length) {
        const c = text[i]!;
        if (c === '"') {
          skipString();
          continue;
        }
        if (c === '{' || c === '[') depth++;
        else if (c === '}' || c === ']') depth--;
        i++;
        if (depth === 0) return;
      }
      return;
    }
    while (i < text.length && !',}] \t\r\n'.includes(text[i]!)) i++;
  };
  ws();
  if (text[i] !== '{') return undefined;
  i++;
  let found: string | undefined;
  for (;;) {
    ws();
    if (text[i] !== '"') return found;
    const keyStart = i;
    skipString();
    const name = JSON.parse(text.slice(keyStart, i)) as string;
    ws();
    i++; // colon
    ws();
    const start = i;
    skipValue();
    if (name === key) found = text.slice(start, i); // the last duplicate wins, as in JSON.parse
    ws();
    if (text[i] === ',') i++;
    else return found;
  }
}

/** A minimal multipart/form-data reader: text fields, and the `notebook` part's exact bytes. */
function parseMultipart(body: Buffer, contentType: string): Upload {
  const match = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  if (!boundary) throw new HttpError(400, 'body: multipart/form-data without a boundary');
  const delimiter = Buffer.from(`--${boundary}`);
  const out: Upload = {};
  let pos = body.indexOf(delimiter);
  if (pos === -1) throw new HttpError(400, 'body: malformed multipart/form-data (no parts)');
  for (;;) {
    pos += delimiter.length;
    if (body.subarray(pos, pos + 2).toString() === '--') break; // closing delimiter
    if (body.subarray(pos, pos + 2).toString() === '\r\n') pos += 2;
    const headerEnd = body.indexOf('\r\n\r\n', pos);
    if (headerEnd === -1) throw new HttpError(400, 'body: malformed multipart/form-data (a part has no headers)');
    const headers = body.subarray(pos, headerEnd).toString('utf8');
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), headerEnd + 4);
    if (next === -1) throw new HttpError(400, 'body: malformed multipart/form-data (unterminated part)');
    const content = body.subarray(headerEnd + 4, next);
    const name = /name="([^"]*)"/i.exec(/content-disposition:[^\r\n]*/i.exec(headers)?.[0] ?? '')?.[1];
    if (name === 'notebook') out.notebook = Buffer.from(content);
    else if (name === 'title' || name === 'visibility' || name === 'path') out[name] = content.toString('utf8');
    else if (name !== undefined) throw new HttpError(400, `body: unknown field ${JSON.stringify(name)} (expected title, visibility, path, notebook)`);
    pos = next + 2;
  }
  return out;
}
