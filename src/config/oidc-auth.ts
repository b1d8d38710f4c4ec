/**
 * `auth.oidc`: signing in with any OpenID Connect provider (Keycloak, Dex, Azure AD, Google...), with
 * the option names of JupyterHub's OAuthenticator (src/auth/oidc.ts).
 */
import { z } from 'zod';
import { secretRef } from './secret-ref.js';

export const oidcAuthSchema = z.strictObject({
  /** The provider's issuer URL; its endpoints come from `<issuer>/.well-known/openid-configuration`. https, or http on a loopback address. */
  issuer: z.string().url(),
  client_id: z.string().min(1),
  client_secret: secretRef,
  /** Where the provider sends people back; default `<public_url>/hub/oauth_callback`. Register exactly this at the provider. */
  oauth_callback_url: z.string().url().optional(),
  scope: z.array(z.string().min(1)).default(['openid', 'profile', 'email']),
  /** The claim that is the person's Refinery name. */
  username_claim: z.string().min(1).default('preferred_username'),
  /** The claim that lists the person's groups. */
  claim_groups_key: z.string().min(1).default('groups'),
  /** What the sign-in button says: "Sign in with <login_service>". */
  login_service: z.string().min(1).default('OpenID Connect'),
  allowed_users: z.array(z.string().min(1)).default([]),
  allowed_groups: z.array(z.string().min(1)).default([]),
  admin_groups: z.array(z.string().min(1)).default([]),
  /** The provider's groups become the person's Refinery groups at each sign-in. */
  manage_groups: z.boolean().default(false),
});

export type OidcAuthConfig = z.output<typeof oidcAuthSchema>;
