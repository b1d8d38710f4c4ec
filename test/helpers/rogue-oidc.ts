/**
 * A stand-in OpenID Connect provider that signs ID tokens which must be refused: for another
 * audience, already expired, signed with a key it does not publish, or with another nonce. It follows
 * the discovery, JWKS, authorization and token endpoints of OpenID Connect Core; its authorization
 * endpoint signs everyone in at once. For testing what a relying party checks; loopback HTTP only.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { formBody } from './stand-in-http.js';

export type RogueMode = 'wrong-audience' | 'expired' | 'unpublished-key' | 'wrong-nonce';

export interface RogueOidcProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  mode: RogueMode;
  close(): Promise<void>;
}

export async function startRogueOidcProvider(options: { redirectUri: string }): Promise<RogueOidcProvider> {
  const published = await generateKeyPair('RS256');
  const unpublished = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(published.publicKey)), kid: 'published', alg: 'RS256', use: 'sig' };
  const clientId = 'refinery-hub';
  const clientSecret = randomBytes(16).toString('hex');
  const codes = new Map<string, { nonce: string }>();
  const state: RogueOidcProvider = { issuer: '', clientId, clientSecret, mode: 'wrong-audience', close: async () => undefined };

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', state.issuer);
      const json = (status: number, body: unknown) => res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
      if (url.pathname === '/.well-known/openid-configuration') {
        return json(200, {
          issuer: state.issuer, authorization_endpoint: `${state.issuer}/authorize`, token_endpoint: `${state.issuer}/token`, jwks_uri: `${state.issuer}/jwks`,
          userinfo_endpoint: `${state.issuer}/userinfo`, response_types_supported: ['code'], subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'], code_challenge_methods_supported: ['S256'], token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
        });
      }
      if (url.pathname === '/jwks') return json(200, { keys: [jwk] });
      if (url.pathname === '/authorize') {
        if (url.searchParams.get('redirect_uri') !== options.redirectUri) return json(400, { error: 'invalid_request' });
        const code = randomBytes(12).toString('hex');
        codes.set(code, { nonce: url.searchParams.get('nonce') ?? '' });
        const back = new URL(options.redirectUri);
        back.searchParams.set('code', code);
        back.searchParams.set('state', url.searchParams.get('state') ?? '');
        return void res.writeHead(302, { Location: back.href }).end();
      }
      if (url.pathname === '/token' && req.method === 'POST') {
        const body = await formBody(req);
        const grant = codes.get(body.get('code') ?? '');
        codes.delete(body.get('code') ?? '');
        if (!grant) return json(400, { error: 'invalid_grant' });
        const now = Math.floor(Date.now() / 1000);
        const mode = state.mode;
        const key = mode === 'unpublished-key' ? unpublished.privateKey : published.privateKey;
        const idToken = await new SignJWT({ preferred_username: 'alice', groups: ['data-science'], nonce: mode === 'wrong-nonce' ? 'another-nonce' : grant.nonce })
          .setProtectedHeader({ alg: 'RS256', kid: 'published' })
          .setIssuer(state.issuer)
          .setSubject('alice')
          .setAudience(mode === 'wrong-audience' ? 'some-other-client' : clientId)
          .setIssuedAt(mode === 'expired' ? now - 7200 : now)
          .setExpirationTime(mode === 'expired' ? now - 3600 : now + 3600)
          .sign(key);
        return json(200, { access_token: randomBytes(16).toString('hex'), token_type: 'Bearer', expires_in: 3600, id_token: idToken });
      }
      json(404, { error: 'not_found' });
    })().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return state;
}
