// Reading the API server's refusals out of @kubernetes/client-node's ApiException, whose body is
// the Status document as text (or already parsed, depending on the call).
import { ApiException } from '@kubernetes/client-node';

export interface ApiStatus {
  code: number;
  reason: string;
  message: string;
}

/** The HTTP status and the Status document's reason and message of a failed call, or undefined if `err` is not one. */
export function apiStatus(err: unknown): ApiStatus | undefined {
  if (!(err instanceof ApiException)) return undefined;
  const code = (err as ApiException<unknown>).code;
  let body: unknown = (err as ApiException<unknown>).body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      return { code, reason: '', message: body as string };
    }
  }
  const status = (body ?? {}) as { reason?: string; message?: string };
  return { code, reason: status.reason ?? '', message: status.message ?? '' };
}

export function isNotFound(err: unknown): boolean {
  return apiStatus(err)?.code === 404;
}

export function isConflict(err: unknown): boolean {
  return apiStatus(err)?.code === 409;
}
