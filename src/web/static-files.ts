import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

const TYPES: Record<string, string> = { '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.svg': 'image/svg+xml' };

/** Static assets live beside the sources (src/web/static); the build output points back at them. */
function staticDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return here.includes(`${join('dist', 'src')}`) ? here.replace(join('dist', 'src'), 'src') + '/static' : join(here, 'static');
}

/** Serves the few files in src/web/static, read once; nothing else on disk is reachable. */
export function staticFiles(app: FastifyInstance, files: readonly string[]): void {
  const dir = staticDir();
  const cache = new Map<string, { body: Buffer; type: string }>();
  for (const file of files) {
    const ext = file.slice(file.lastIndexOf('.'));
    cache.set(file, { body: readFileSync(join(dir, file)), type: TYPES[ext] ?? 'application/octet-stream' });
  }
  // single-user servers' pages link the hub's logo here
  app.get('/hub/logo', async (_req, reply) => reply.redirect('/hub/static/favicon.svg', 302));
  app.get<{ Params: { file: string } }>('/hub/static/:file', async (req, reply) => {
    const entry = cache.get(req.params.file);
    if (!entry) return reply.code(404).type('text/plain').send('Not Found');
    return reply.type(entry.type).header('Cache-Control', 'public, max-age=300').send(entry.body);
  });
}
