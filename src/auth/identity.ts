import type { Kysely } from 'kysely';
import type { Database } from '../db/tables.js';
import type { UserRow } from '../db/users.js';
import type { TokenRow } from '../db/tokens.js';
import { findUser, findUserById } from '../db/users.js';
import { findTokenByHash, touchToken } from '../db/tokens.js';
import { findSessionByHash, touchSession } from '../db/sessions.js';
import { isExpired } from '../db/time.js';
import { allShareGrants } from '../db/shares.js';
import { hashSecret } from './secrets.js';
import {
  adminRoleScopes, expandScopes, identifyScopes, intersectScopes, parseScopes, SHARING_SELF_SCOPES,
  type ParsedScopes, type ScopeOwner,
} from '../policy/scopes.js';

/** Who is making a request, and what they may do. */
export interface Identity {
  kind: 'user' | 'service';
  name: string;
  /** Set for users. */
  userId?: number;
  admin: boolean;
  /** Expanded scopes. */
  scopes: ReadonlySet<string>;
  parsed: ParsedScopes;
  via: 'session' | 'token';
  tokenId?: number;
  /** A token that carries everything its owner may do (`inherit`), as much as a browser session. */
  inheritsOwner?: boolean;
  /** Set when signed in through the browser. */
  session?: { id: string; hash: string; csrfToken: string };
}

export interface ServiceDefinition {
  name: string;
  scopes: readonly string[];
}

interface CacheEntry {
  identity: Identity | null;
  epoch: number;
  until: number;
  expiresAt: number;
}

/** How long a resolved identity is reused without asking the database (bounds staleness from other processes such as the CLI). */
const CACHE_MS = 5_000;
/** Token and session last-activity timestamps are written at most this often. */
const TOUCH_MS = 60_000;

/**
 * Turns credentials (API tokens, session cookies) into Identities. Results are cached because the proxy
 * asks on every request; any change to users, groups, tokens or sessions made through the hub calls
 * `invalidate()`, which drops the whole cache at once.
 */
export class IdentityResolver {
  private epoch = 0;
  private readonly cache = new Map<string, CacheEntry>();
  private readonly touched = new Map<string, number>();
  private groupIndex: { epoch: number; byUser: Map<string, Set<string>> } | undefined;
  private shareIndex: { epoch: number; byUser: Map<string, string[]>; byGroup: Map<string, string[]> } | undefined;
  private readonly sharing: boolean;
  private readonly services: Map<string, ServiceDefinition>;

  private readonly adminScopes: readonly string[];

  /**
   * `adminAccess`: whether admins reach other people's servers (config `admin_access`); `sharing`:
   * whether people may share their own servers (config `sharing.enabled`).
   */
  constructor(private readonly db: Kysely<Database>, services: readonly ServiceDefinition[], options: { adminAccess?: boolean; sharing?: boolean } = {}) {
    this.services = new Map(services.map((s) => [s.name, s]));
    this.adminScopes = adminRoleScopes(options.adminAccess ?? false);
    this.sharing = options.sharing ?? true;
  }

  invalidate(): void {
    this.epoch++;
    this.cache.clear();
  }

  /** Sync lookup for the proxy's hot path: a cached identity, `null` for cached "no one", undefined when unknown. */
  peek(kind: 'token' | 'session', secret: string, now = Date.now()): Identity | null | undefined {
    const entry = this.cache.get(`${kind}:${secret}`);
    if (!entry || entry.epoch !== this.epoch || entry.until < now) return undefined;
    if (entry.expiresAt <= now) return null;
    return entry.identity;
  }

  async fromToken(token: string): Promise<Identity | null> {
    return this.cached('token', token, () => this.resolveToken(token));
  }

  async fromSession(cookieValue: string): Promise<Identity | null> {
    return this.cached('session', cookieValue, () => this.resolveSession(cookieValue));
  }

  private async cached(kind: 'token' | 'session', secret: string, resolve: () => Promise<{ identity: Identity | null; expiresAt: number }>): Promise<Identity | null> {
    const hit = this.peek(kind, secret);
    if (hit !== undefined) {
      if (hit) this.touch(kind, secret, hit);
      return hit;
    }
    const epoch = this.epoch;
    const { identity, expiresAt } = await resolve();
    if (epoch === this.epoch) {
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(`${kind}:${secret}`, { identity, epoch, until: Date.now() + CACHE_MS, expiresAt });
    }
    if (identity) this.touch(kind, secret, identity);
    return identity;
  }

  private touch(kind: 'token' | 'session', secret: string, identity: Identity): void {
    const key = `${kind}:${secret}`;
    const now = Date.now();
    if (now - (this.touched.get(key) ?? 0) < TOUCH_MS) return;
    if (this.touched.size > 10_000) this.touched.clear();
    this.touched.set(key, now);
    const at = new Date(now).toISOString();
    const write = kind === 'token' && identity.tokenId !== undefined
      ? touchToken(this.db, identity.tokenId, at)
      : identity.session ? touchSession(this.db, identity.session.hash, at) : Promise.resolve();
    write.catch(() => undefined); // activity stamps are best effort
  }

  private async resolveToken(token: string): Promise<{ identity: Identity | null; expiresAt: number }> {
    const row = await findTokenByHash(this.db, hashSecret(token));
    if (!row || isExpired(row.expires_at)) return { identity: null, expiresAt: Infinity };
    const expiresAt = row.expires_at ? Date.parse(row.expires_at) : Infinity;
    if (row.service_name !== null) {
      const service = this.services.get(row.service_name);
      if (!service) return { identity: null, expiresAt };
      const owner: ScopeOwner = { kind: 'service', name: service.name };
      const ownerScopes = expandScopes([...service.scopes, ...identifyScopes(owner)], owner);
      const scopes = await this.tokenScopes(row, owner, ownerScopes);
      return { identity: { kind: 'service', name: service.name, admin: false, scopes, parsed: parseScopes(scopes), via: 'token', tokenId: row.id }, expiresAt };
    }
    const user = row.user_id === null ? undefined : await findUserById(this.db, row.user_id);
    if (!user) return { identity: null, expiresAt };
    const owner: ScopeOwner = { kind: 'user', name: user.name };
    const scopes = await this.tokenScopes(row, owner, await this.scopesWithShares(user));
    const inheritsOwner = (JSON.parse(row.scopes) as string[]).includes('inherit');
    return { identity: { kind: 'user', name: user.name, userId: user.id, admin: !!user.admin, scopes, parsed: parseScopes(scopes), via: 'token', tokenId: row.id, inheritsOwner }, expiresAt };
  }

  /** What a user's token may do now (for showing tokens): its scopes as its owner holds them today. */
  async scopesOfUserToken(row: TokenRow, user: Pick<UserRow, 'name' | 'admin'>): Promise<Set<string>> {
    return this.tokenScopes(row, { kind: 'user', name: user.name }, await this.scopesWithShares(user));
  }

  /** A token can never do more than its owner: its own scopes intersected with the owner's. */
  private async tokenScopes(row: TokenRow, owner: ScopeOwner, ownerScopes: Set<string>): Promise<Set<string>> {
    const fromServerClient = row.oauth_client_id !== 'jupyterhub';
    // the provider never grants `inherit` to a server's client; a token that says so was issued before
    // requested scopes were checked against the client's, and gets only what such tokens always get
    const raw = (JSON.parse(row.scopes) as string[]).filter((s) => !(fromServerClient && s === 'inherit'));
    if (raw.includes('inherit')) return ownerScopes;
    const requested = expandScopes([...raw, ...identifyScopes(owner)], owner, row.server_key ?? undefined);
    if (fromServerClient && row.server_key) {
      // an OAuth token from a server's client always lets its holder reach that server
      for (const s of expandScopes([`access:servers!server=${row.server_key}`], owner)) requested.add(s);
    }
    const groupsOf = await this.groupLookup();
    return intersectScopes(requested, ownerScopes, groupsOf);
  }

  private async resolveSession(cookieValue: string): Promise<{ identity: Identity | null; expiresAt: number }> {
    const hash = hashSecret(cookieValue);
    const session = await findSessionByHash(this.db, hash);
    if (!session || isExpired(session.expires_at)) return { identity: null, expiresAt: Infinity };
    const user = await findUserById(this.db, session.user_id);
    if (!user) return { identity: null, expiresAt: Infinity };
    const scopes = await this.scopesWithShares(user);
    return {
      identity: {
        kind: 'user', name: user.name, userId: user.id, admin: !!user.admin, scopes, parsed: parseScopes(scopes), via: 'session',
        session: { id: session.id, hash, csrfToken: session.csrf_token },
      },
      expiresAt: Date.parse(session.expires_at),
    };
  }

  /** What a user may do by role: their own resources, plus the admin role's scopes for admins. */
  userScopes(user: Pick<UserRow, 'name' | 'admin'>): Set<string> {
    const owner: ScopeOwner = { kind: 'user', name: user.name };
    return expandScopes(['self', ...(this.sharing ? SHARING_SELF_SCOPES : []), ...(user.admin ? this.adminScopes : [])], owner);
  }

  /** Everything a user may do: by role, plus what others shared with them or with their groups. */
  private async scopesWithShares(user: Pick<UserRow, 'name' | 'admin'>): Promise<Set<string>> {
    const own = this.userScopes(user);
    const shares = await this.sharesIndex();
    const granted = [...(shares.byUser.get(user.name) ?? [])];
    if (shares.byGroup.size) {
      const groupsOf = await this.groupLookup();
      for (const group of groupsOf(user.name)) granted.push(...(shares.byGroup.get(group) ?? []));
    }
    if (granted.length === 0) return own;
    return expandScopes([...own, ...granted], { kind: 'user', name: user.name });
  }

  /** Who was shared which scopes, loaded once per change like the group index. */
  private async sharesIndex(): Promise<{ byUser: Map<string, string[]>; byGroup: Map<string, string[]> }> {
    if (!this.shareIndex || this.shareIndex.epoch !== this.epoch) {
      const epoch = this.epoch;
      const byUser = new Map<string, string[]>();
      const byGroup = new Map<string, string[]>();
      for (const grant of await allShareGrants(this.db)) {
        const [map, key] = grant.user !== null ? [byUser, grant.user] : [byGroup, grant.group ?? ''];
        map.set(key, [...(map.get(key) ?? []), ...grant.scopes]);
      }
      this.shareIndex = { epoch, byUser, byGroup };
    }
    return this.shareIndex;
  }

  /** Expanded scopes a user holds, for checking token requests against. */
  async scopesOfUser(name: string): Promise<Set<string> | undefined> {
    const user = await findUser(this.db, name);
    return user ? this.scopesWithShares(user) : undefined;
  }

  /** The group lookup if it is loaded and current, for callers that must not wait. */
  cachedGroupLookup(): ((name: string) => ReadonlySet<string>) | undefined {
    const index = this.groupIndex;
    if (!index || index.epoch !== this.epoch) return undefined;
    return (name) => index.byUser.get(name) ?? EMPTY;
  }

  /** A synchronous `username -> groups` lookup for `!group=` filters, refreshed when anything changed. */
  async groupLookup(): Promise<(name: string) => ReadonlySet<string>> {
    if (!this.groupIndex || this.groupIndex.epoch !== this.epoch) {
      const epoch = this.epoch;
      const rows = await this.db
        .selectFrom('user_groups')
        .innerJoin('users', 'users.id', 'user_groups.user_id')
        .innerJoin('groups', 'groups.id', 'user_groups.group_id')
        .select(['users.name as user', 'groups.name as group'])
        .execute();
      const byUser = new Map<string, Set<string>>();
      for (const row of rows) {
        let set = byUser.get(row.user);
        if (!set) byUser.set(row.user, (set = new Set()));
        set.add(row.group);
      }
      this.groupIndex = { epoch, byUser };
    }
    const byUser = this.groupIndex.byUser;
    return (name) => byUser.get(name) ?? EMPTY;
  }
}

const EMPTY: ReadonlySet<string> = new Set();

