// Small pieces the HTTP stand-ins for outside services (OAuth servers, providers) share.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Text safe inside HTML (the stand-ins' sign-in forms echo parameters back). */
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A form-encoded request body. */
export async function formBody(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
}
