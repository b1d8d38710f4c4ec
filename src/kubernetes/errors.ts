/**
 * What the API server said, as typed errors: client-node 1.x throws ApiException with the HTTP code
 * and the Status body as text; callers want to tell "already exists" from "forbidden" and show the
 * server's own message (it names the field or the missing permission).
 */
import { ApiException } from '@kubernetes/client-node';

export type KubeErrorReason = 'conflict' | 'not-found' | 'forbidden' | 'invalid' | 'gone' | 'other';

export class KubeError extends Error {
  constructor(
    readonly reason: KubeErrorReason,
    /** HTTP status, 0 when the server was not reached. */
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'KubeError';
  }
}

function reasonOf(code: number): KubeErrorReason {
  switch (code) {
    case 409: return 'conflict';
    case 404: return 'not-found';
    case 403: return 'forbidden';
    case 400: case 422: return 'invalid';
    case 410: return 'gone';
    default: return 'other';
  }
}

/** The Status message of an API answer, else a short form of whatever was thrown. */
function messageOf(error: ApiException<unknown>): string {
  const body = error.body;
  const text = typeof body === 'string' ? body : JSON.stringify(body ?? '');
  try {
    const status = JSON.parse(text) as { message?: unknown };
    if (typeof status.message === 'string' && status.message) return status.message;
  } catch {
    // not JSON: fall through to the raw text
  }
  return text.slice(0, 500) || `HTTP ${error.code}`;
}

/** Any error from a client-node call as a KubeError (network errors become reason 'other', code 0). */
export function kubeError(error: unknown): KubeError {
  if (error instanceof KubeError) return error;
  if (error instanceof ApiException) return new KubeError(reasonOf(error.code), error.code, messageOf(error));
  const message = error instanceof Error ? error.message : String(error);
  return new KubeError('other', 0, `the Kubernetes API could not be reached: ${message}`);
}

/** Run a call; a 404 becomes `undefined` instead of an error. */
export async function orMissing<T>(call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call();
  } catch (error) {
    const e = kubeError(error);
    if (e.reason === 'not-found') return undefined;
    throw e;
  }
}

/** Run a call and turn what it throws into KubeError. */
export async function kube<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw kubeError(error);
  }
}
