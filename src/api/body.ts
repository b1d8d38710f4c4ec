import type { FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { HttpError } from '../http/errors.js';

/**
 * The request body as JSON, or undefined when there is none. Bodies are read as text whatever the
 * Content-Type says, because JupyterHub clients often omit it.
 */
export function jsonBody(req: FastifyRequest): unknown {
  const raw = req.body;
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'string') return raw;
  if (raw.trim() === '') return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch (error) {
    throw new HttpError(400, `Invalid JSON in request body: ${(error as Error).message}`);
  }
}

/** Parse the body against a schema; a 400 names the first offending field and what was expected. */
export function parseBody<S extends z.ZodType>(req: FastifyRequest, schema: S, what: string): z.output<S> {
  const body = jsonBody(req);
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.map(String).join('.');
  let message: string;
  if (issue.code === 'unrecognized_keys') message = `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')} in ${what}${field ? `.${field}` : ''}`;
  else if (issue.code === 'invalid_type' && issue.path.length === 0) message = `${what} must be a JSON object`;
  else message = `${what}.${field}: ${issue.message}`;
  throw new HttpError(400, message);
}
