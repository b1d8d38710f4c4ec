/**
 * Signing in with GitLab (gitlab.com or self-managed: `oauth_base_url`, `api_url`): the person's
 * username, and as groups the full paths of the groups they belong to (`allowed_organizations`).
 */
import type { GitLabAuthConfig } from '../config/git-auth.js';
import { ExternalSignInError, type ExternalIdentity } from './external.js';
import { OAuth2SignIn } from './oauth2-provider.js';

export class GitLabSignIn extends OAuth2SignIn {
  readonly label = 'GitLab';
  readonly configKey = 'auth.gitlab';

  constructor(private readonly config: GitLabAuthConfig, clientSecret: () => string, callbackUrl: () => string) {
    super(config, clientSecret, callbackUrl);
  }

  protected get authorizeEndpoint(): string {
    return `${this.config.oauth_base_url}/oauth/authorize`;
  }

  protected get tokenEndpoint(): string {
    return `${this.config.oauth_base_url}/oauth/token`;
  }

  private get apiUrl(): string {
    return this.config.api_url ?? `${this.config.oauth_base_url}/api/v4`;
  }

  protected async whoIs(accessToken: string): Promise<ExternalIdentity> {
    const user = await this.api<{ username?: string }>(`${this.apiUrl}/user`, accessToken);
    if (!user.username) throw new ExternalSignInError('GitLab answered /user without a username');
    // min_access_level=10 (Guest): every group the person is a member of, not all public ones
    const groups = await this.api<{ full_path: string }[]>(`${this.apiUrl}/groups?min_access_level=10&per_page=100`, accessToken);
    return { name: user.username, groups: [...new Set(groups.map((g) => g.full_path))] };
  }
}
