/**
 * Signing in with GitHub (or GitHub Enterprise: `oauth_base_url`, `api_url`): the person's login, and
 * as groups their organizations and `org:team` for each team, the names `allowed_organizations` uses,
 * as in OAuthenticator.
 */
import type { GitHubAuthConfig } from '../config/git-auth.js';
import { ExternalSignInError, type ExternalIdentity } from './external.js';
import { OAuth2SignIn } from './oauth2-provider.js';

export class GitHubSignIn extends OAuth2SignIn {
  readonly label = 'GitHub';
  readonly configKey = 'auth.github';

  constructor(private readonly config: GitHubAuthConfig, clientSecret: () => string, callbackUrl: () => string) {
    super(config, clientSecret, callbackUrl);
  }

  protected get authorizeEndpoint(): string {
    return `${this.config.oauth_base_url}/login/oauth/authorize`;
  }

  protected get tokenEndpoint(): string {
    return `${this.config.oauth_base_url}/login/oauth/access_token`;
  }

  protected async whoIs(accessToken: string): Promise<ExternalIdentity> {
    const user = await this.api<{ login?: string }>(`${this.config.api_url}/user`, accessToken);
    if (!user.login) throw new ExternalSignInError('GitHub answered /user without a login');
    const orgs = await this.api<{ login: string }[]>(`${this.config.api_url}/user/orgs?per_page=100`, accessToken);
    const teams = await this.api<{ slug: string; organization?: { login?: string } }[]>(`${this.config.api_url}/user/teams?per_page=100`, accessToken);
    const groups = [...orgs.map((o) => o.login), ...teams.flatMap((t) => (t.organization?.login ? [`${t.organization.login}:${t.slug}`] : []))];
    return { name: user.login, groups: [...new Set(groups)] };
  }
}
