import type {} from 'fastify';
import type { Access } from '../auth/access.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is asking, resolved from an API token or the session cookie; null when anonymous. */
    access: Access | null;
  }
}
