import type { FastifyRequest } from 'fastify';
import { OAuthError, type TokenParams } from '../auth/oauth.js';

const TOKEN_PARAMS = ['grant_type', 'code', 'redirect_uri', 'code_verifier', 'client_id', 'client_secret'] as const;

/**
 * The parameters of a token request. They come form-encoded (RFC 6749 §4.1.3; some JupyterHub
 * clients send JSON), never from the query string, each at most once; client credentials come in
 * the body or as HTTP Basic (§2.3.1, each part form-encoded), not both.
 */
export function tokenRequestParams(req: FastifyRequest): TokenParams {
  const body = bodyParams(req);
  const params: TokenParams = {};
  for (const name of TOKEN_PARAMS) {
    const values = body.getAll(name);
    if (values.length > 1) throw new OAuthError('invalid_request', `the parameter ${name} was given ${values.length} times`);
    if (values.length === 1) params[name] = values[0];
  }
  const basic = basicCredentials(req.headers.authorization);
  if (basic) {
    if (params.client_secret !== undefined) throw new OAuthError('invalid_request', 'client credentials were given both in the body and as HTTP Basic; use one');
    if (params.client_id !== undefined && params.client_id !== basic.id) throw new OAuthError('invalid_client', 'client_id in the body is not the one in HTTP Basic', 401);
    params.client_id = basic.id;
    params.client_secret = basic.secret;
  }
  return params;
}

function bodyParams(req: FastifyRequest): URLSearchParams {
  const body = req.body;
  const type = (req.headers['content-type'] ?? '').toLowerCase();
  if (typeof body !== 'string' || body.trim() === '') return new URLSearchParams();
  if (type.startsWith('application/json') || body.trimStart().startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      throw new OAuthError('invalid_request', 'the request body is not valid JSON');
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new OAuthError('invalid_request', 'the request body must be a JSON object');
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(parsed)) {
      if (typeof value !== 'string') throw new OAuthError('invalid_request', `the parameter ${key} must be a string`);
      params.append(key, value);
    }
    return params;
  }
  return new URLSearchParams(body);
}

/** `Authorization: Basic base64(urlencode(id):urlencode(secret))`; undefined when there is none. */
function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  const match = /^basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header ?? '');
  if (!header || !/^basic /i.test(header)) return undefined;
  const decoded = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : '';
  const colon = decoded.indexOf(':');
  if (colon <= 0) throw new OAuthError('invalid_client', 'HTTP Basic credentials must be base64 of "client_id:client_secret"', 401);
  try {
    return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    throw new OAuthError('invalid_client', 'HTTP Basic credentials are not properly percent-encoded', 401);
  }
}

function formDecode(text: string): string {
  return decodeURIComponent(text.replace(/\+/g, ' '));
}
