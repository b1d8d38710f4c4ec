/**
 * Failures as HTTP answers. Routes throw domain errors (or HttpError for what only HTTP knows, such
 * as a malformed field); `httpErrorOf` is the one table from a domain error's kind to a status, so a
 * kind means the same status wherever it comes from. The API answers `{"status", "message"}` as
 * JupyterHub does; pages show the message.
 */
import { AccessDenied } from '../policy/errors.js';
import { SelectionError } from '../profiles/resolve.js';
import { PublicationError } from '../publish/errors.js';
import { ServerRequestError } from '../servers/errors.js';
import { StorageError } from '../storage/service.js';
import { SharingError } from '../sharing/service.js';
import { UserRequestError } from '../users/service.js';
import { QueueFullError } from '../util/work-queue.js';

export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
    this.name = 'HttpError';
  }
}

export const notFound = (message = 'Not Found') => new HttpError(404, message);
export const badRequest = (message: string) => new HttpError(400, message);

const USER_REQUEST_STATUS: Readonly<Record<UserRequestError['kind'], number>> = { invalid: 400, conflict: 409, 'not-found': 404 };
// as JupyterHub: starting a running server or stopping a stopped one is a 400, not a 409
const SERVER_REQUEST_STATUS: Readonly<Record<ServerRequestError['kind'], number>> = { invalid: 400, conflict: 400, limit: 400, 'not-found': 404 };
const PUBLICATION_STATUS: Readonly<Record<PublicationError['kind'], number>> = { invalid: 400, 'too-large': 413, 'not-found': 404, gone: 410 };
/** Seconds a client is asked to wait when a work queue is full. */
const BUSY_RETRY_SECONDS = 10;

/** The HTTP answer for an error, or undefined for one that is a fault of the hub (a 500). */
export function httpErrorOf(error: unknown): HttpError | undefined {
  if (error instanceof HttpError) return error;
  if (error instanceof AccessDenied) return new HttpError(error.hidden ? 404 : 403, error.message);
  if (error instanceof UserRequestError) return new HttpError(USER_REQUEST_STATUS[error.kind], error.message);
  if (error instanceof ServerRequestError) return new HttpError(SERVER_REQUEST_STATUS[error.kind], error.message);
  if (error instanceof SelectionError) return new HttpError(400, `user_options.${error.field}: ${error.message}`);
  if (error instanceof PublicationError) return new HttpError(PUBLICATION_STATUS[error.kind], error.message);
  if (error instanceof StorageError) return new HttpError(502, error.message);
  if (error instanceof SharingError) return new HttpError(error.status, error.message);
  if (error instanceof QueueFullError) {
    // only publishing queues its API requests (notebook checks and renders)
    return new HttpError(503, 'notebook: the hub is checking many notebooks right now; try again in a few seconds', { 'Retry-After': String(BUSY_RETRY_SECONDS) });
  }
  return undefined;
}
