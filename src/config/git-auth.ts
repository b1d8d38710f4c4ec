/**
 * `auth.github` and `auth.gitlab`: signing in with GitHub or GitLab accounts (src/auth/github.ts,
 * src/auth/gitlab.ts), with OAuthenticator's option names; the base and API URLs point at GitHub
 * Enterprise or a self-managed GitLab.
 */
import { z } from 'zod';
import { secretRef } from './secret-ref.js';

const withoutTrailingSlash = z.string().url().transform((url) => url.replace(/\/+$/, ''));

const common = {
  client_id: z.string().min(1),
  client_secret: secretRef,
  /** Where the provider sends people back; default `<public_url>/hub/oauth_callback`. Register exactly this at the provider. */
  oauth_callback_url: z.string().url().optional(),
  allowed_users: z.array(z.string().min(1)).default([]),
  /** GitHub: "org" or "org:team"; GitLab: a group's full path. Members may sign in. */
  allowed_organizations: z.array(z.string().min(1)).default([]),
  /** Members of these organizations, teams or groups are admins at each sign-in; everyone else is not. */
  admin_groups: z.array(z.string().min(1)).default([]),
  /** Organizations and teams (GitHub) or groups (GitLab) become the person's Refinery groups at each sign-in. */
  manage_groups: z.boolean().default(false),
};

export const githubAuthSchema = z.strictObject({
  ...common,
  oauth_base_url: withoutTrailingSlash.default('https://github.com'),
  api_url: withoutTrailingSlash.default('https://api.github.com'),
  /** read:org lets the hub see organization and team memberships that are not public. */
  scope: z.array(z.string().min(1)).default(['read:org']),
});

export const gitlabAuthSchema = z.strictObject({
  ...common,
  oauth_base_url: withoutTrailingSlash.default('https://gitlab.com'),
  /** Default `<oauth_base_url>/api/v4`. */
  api_url: withoutTrailingSlash.optional(),
  /** read_api lets the hub list the person's groups. */
  scope: z.array(z.string().min(1)).default(['read_user', 'read_api']),
});

export type GitHubAuthConfig = z.output<typeof githubAuthSchema>;
export type GitLabAuthConfig = z.output<typeof gitlabAuthSchema>;
