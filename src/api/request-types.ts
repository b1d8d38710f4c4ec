import type {} from 'fastify';
import type { Access } from '../policy/access.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is asking, resolved from an API token or the session cookie; null when anonymous. */
    access: Access | null;
  }
  interface FastifyContextConfig {
    /** Set on every REST API route (src/http/hub-app.ts): JSON errors, the version header, the API's CSRF rules. */
    api?: boolean;
    /** The route checks a CSRF token of its own (the sign-in form, posted before any session exists). */
    ownCsrf?: boolean;
  }
}
