/**
 * The seam for signing in with someone else's accounts (OpenShift, any OpenID Connect provider): the
 * hub's pages (web/oauth-login-pages.ts) send the browser to the provider with a state, a nonce and a
 * PKCE challenge, and hand the provider's answer back here to learn who the person is. Who may then
 * sign in, who is an admin and which groups people get is the same for every provider (`policy`).
 */
import { createHash } from 'node:crypto';
import { newSecret } from './secrets.js';

export interface ExternalIdentity {
  name: string;
  groups: string[];
  /** What the provider gave (access token, refresh token, expiry), kept encrypted with auth.enable_auth_state. */
  authState?: Record<string, unknown>;
}

/** Who may sign in and what they get; read at every sign-in. */
export interface SignInPolicy {
  /** Only these people (empty: anyone the provider signs in, subject to allowed_groups). */
  allowed_users: readonly string[];
  /** Only members of these groups (empty: no group needed). */
  allowed_groups: readonly string[];
  /** Members of these groups are admins, everyone else is not (empty: admin is left as it is). */
  admin_groups: readonly string[];
  /** The provider's groups become the person's Refinery groups. */
  manage_groups: boolean;
}

/** One sign-in under way: what the hub keeps to check the provider's answer. */
export interface PendingSignIn {
  state: string;
  nonce: string;
  verifier: string;
}

export interface ExternalSignIn {
  /** For the button and messages: "Sign in with OpenShift". */
  readonly label: string;
  /** The config section, for messages that tell an administrator what to check: `auth.oidc`. */
  readonly configKey: string;
  readonly policy: SignInPolicy;
  /** Where to send the browser. */
  authorizeUrl(pending: PendingSignIn & { challenge: string }): Promise<string>;
  /** The person the provider's answer (the full callback URL) vouches for. */
  identify(callback: URL, pending: PendingSignIn): Promise<ExternalIdentity>;
  /** New tokens for an auth state whose access token runs out (providers with refresh tokens). */
  refresh?(authState: Record<string, unknown>): Promise<Record<string, unknown>>;
}

/** Something the person or the administrator can act on, without any token in it. */
export class ExternalSignInError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExternalSignInError';
  }
}

/** A PKCE pair: the verifier stays with the hub, the challenge goes to the provider. */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = newSecret(32);
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}
