/**
 * `auth.openshift`: signing in with OpenShift accounts (src/auth/openshift.ts). The hub's service
 * account is the OAuth client, as OpenShift allows: client_id `system:serviceaccount:<ns>:<sa>`,
 * its token the secret, and the annotation `serviceaccounts.openshift.io/oauth-redirectreference.*`
 * (set by the chart) says where the OAuth server may send people back to.
 */
import { z } from 'zod';
import { secretRef } from './secret-ref.js';

export const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export const openshiftAuthSchema = z.strictObject({
  /** The cluster's API server; the OAuth endpoints are discovered from its /.well-known/oauth-authorization-server. */
  api_url: z.string().url().default('https://kubernetes.default.svc'),
  client_id: z.string().regex(/^system:serviceaccount:[a-z0-9-]+:[a-z0-9.-]+$/, 'the hub\'s service account as "system:serviceaccount:<namespace>:<name>"'),
  /** Default: the service account's token in the hub's pod. */
  client_secret: secretRef.default({ file: SERVICE_ACCOUNT_TOKEN }),
  /** Where the OAuth server sends people back; default `<public_url>/hub/oauth_callback`. */
  oauth_callback_url: z.string().url().optional(),
  /** user:info is enough to learn who someone is and their groups. */
  scope: z.array(z.string().min(1)).default(['user:info']),
  /** Only members of these OpenShift groups may sign in (empty: everyone the OAuth server accepts). */
  allowed_groups: z.array(z.string().min(1)).default([]),
  /** Members of these groups are Refinery admins; everyone else is not (checked at each sign-in). */
  admin_groups: z.array(z.string().min(1)).default([]),
  /** A person's OpenShift groups become their Refinery groups at each sign-in. */
  manage_groups: z.boolean().default(true),
});

export type OpenShiftAuthConfig = z.output<typeof openshiftAuthSchema>;
