import type { FastifyInstance } from 'fastify';
import type { HubContext } from '../context.js';
import { sessionPages } from './session-pages.js';
import { serverPages } from './server-pages.js';
import { staticFiles } from './static-files.js';

/** The hub's pages: sign-in, home, spawn and progress, tokens, admin. */
export function registerPages(app: FastifyInstance, ctx: HubContext): void {
  staticFiles(app, ['refinery.css', 'spawn-pending.js', 'home.js']);
  sessionPages(app, ctx);
  serverPages(app, ctx);
}
