import type { FastifyInstance } from 'fastify';
import type { HubContext } from '../context.js';
import { sessionPages } from './session-pages.js';
import { serverPages } from './server-pages.js';
import { accountPages } from './account-pages.js';
import { adminPages } from './admin-pages.js';
import { staticFiles } from './static-files.js';
import { clusterPages } from './cluster-panel.js';
import { publishPages } from './publish-pages.js';
import { storagePages } from './storage-pages.js';
import { oauthConsentPages } from './oauth-consent.js';
import { oauthLoginPages } from './oauth-login-pages.js';
import { sharePages } from './share-pages.js';

/** The hub's pages: sign-in, home, spawn and progress, tokens and password, admin. */
export function registerPages(app: FastifyInstance, ctx: HubContext): void {
  staticFiles(app, ['refinery.css', 'spawn-pending.js', 'spawn-form.js', 'servers.js', 'forms.js', 'share.js', 'favicon.svg']);
  sessionPages(app, ctx);
  serverPages(app, ctx);
  accountPages(app, ctx);
  adminPages(app, ctx);
  clusterPages(app, ctx);
  publishPages(app, ctx);
  storagePages(app, ctx);
  oauthConsentPages(app, ctx);
  sharePages(app, ctx);
  if (ctx.externalSignIn) oauthLoginPages(app, ctx, ctx.externalSignIn);
}
