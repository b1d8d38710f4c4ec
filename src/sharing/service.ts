/**
 * Sharing one's server (JupyterHub 5): shares with a person or a group, and share codes that anyone
 * signed in can exchange for a share. Callers have already decided who may do what (policy/); this
 * keeps the records and makes every change take effect at once: the identity cache is dropped, and
 * on a revocation the open connections of those who lost access are closed.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/tables.js';
import type { IdentityResolver } from '../auth/identity.js';
import type { Revocations } from '../auth/revocations.js';
import type { Logger } from '../log.js';
import { findUser } from '../db/users.js';
import { findGroup } from '../db/groups.js';
import { ensureServer, findServer, type ServerRow } from '../db/servers.js';
import {
  deleteShare, deleteShareCodes, deleteSharesOfServer, findShare, findShareCode, insertShareCode, recordShareCodeExchange,
  saveShare, type Grantee, type ShareCodeRecord, type ShareRecord,
} from '../db/shares.js';
import { isoAfterSeconds } from '../db/time.js';
import { hashSecret, newSecret } from '../auth/secrets.js';

/** Something asked for that is not there (404), or not right (400): the message says which. */
export class SharingError extends Error {
  constructor(readonly status: 400 | 403 | 404, message: string) {
    super(message);
    this.name = 'SharingError';
  }
}

/** Who a share is with, by name. */
export type ShareTarget = { user: string } | { group: string };

/** JupyterHub's bounds for a share code's lifetime: one minute to one year; one day by default. */
export const SHARE_CODE_LIFETIME = { min: 60, max: 525600 * 60, default: 86400 } as const;

/** Share codes start with this, so people and secret scanners can tell them apart. */
const CODE_PREFIX = 'sc_';

export interface SharingDeps {
  db: Kysely<Database>;
  identities: IdentityResolver;
  revocations: Revocations;
  log: Logger;
}

export class SharingService {
  constructor(private readonly deps: SharingDeps) {}

  /** The server row of `owner/server`: the default server always exists; a named one must. */
  async server(owner: string, server: string): Promise<ServerRow> {
    const user = await findUser(this.deps.db, owner);
    if (!user) throw new SharingError(404, `No such server: ${owner}/${server}`);
    const row = await findServer(this.deps.db, user.id, server);
    if (row) return row;
    if (server === '') return ensureServer(this.deps.db, user.id, '');
    throw new SharingError(404, `No such server: ${owner}/${server}`);
  }

  /** The person's or group's id; a name that does not exist is an error in `field`. */
  private async grantee(target: ShareTarget, field: string): Promise<Grantee> {
    if ('user' in target) {
      const user = await findUser(this.deps.db, target.user);
      if (!user) throw new SharingError(400, `${field}.user: no such user: ${target.user}`);
      return { userId: user.id };
    }
    const group = await findGroup(this.deps.db, target.group);
    if (!group) throw new SharingError(400, `${field}.group: no such group: ${target.group}`);
    return { groupId: group.id };
  }

  /** Grant `scopes` on the server, added to what the share already grants. */
  async grant(owner: string, server: string, target: ShareTarget, scopes: readonly string[]): Promise<ShareRecord> {
    const row = await this.server(owner, server);
    if ('user' in target && target.user === owner) throw new SharingError(400, `body.user: ${owner} owns this server; there is nothing to share with them`);
    const grantee = await this.grantee(target, 'body');
    const existing = await findShare(this.deps.db, row.id, grantee);
    const merged = [...new Set([...(existing?.scopes ?? []), ...scopes])].sort();
    await saveShare(this.deps.db, row.id, grantee, merged);
    this.deps.identities.invalidate();
    this.deps.log.info({ owner, server, ...target, scopes: merged }, 'server shared');
    return (await findShare(this.deps.db, row.id, grantee))!;
  }

  /**
   * Take `scopes` (all when none are named) away from a share. Returns what remains, or null when
   * nothing does. Revoking from someone who has no share, or does not exist, changes nothing.
   */
  async revoke(owner: string, server: string, target: ShareTarget, scopes?: readonly string[]): Promise<ShareRecord | null> {
    const row = await this.server(owner, server);
    let grantee: Grantee;
    try {
      grantee = await this.grantee(target, 'body');
    } catch {
      return null;
    }
    const existing = await findShare(this.deps.db, row.id, grantee);
    if (!existing) return null;
    const remaining = scopes?.length ? existing.scopes.filter((scope) => !scopes.includes(scope)) : [];
    if (remaining.length) await saveShare(this.deps.db, row.id, grantee, remaining);
    else await deleteShare(this.deps.db, existing.id);
    this.afterRevoking({ owner, server, ...target });
    return remaining.length ? (await findShare(this.deps.db, row.id, grantee))! : null;
  }

  /** Nobody but its owner keeps access to the server. */
  async revokeAll(owner: string, server: string): Promise<number> {
    const row = await this.server(owner, server);
    const count = await deleteSharesOfServer(this.deps.db, row.id);
    this.afterRevoking({ owner, server, shares: count });
    return count;
  }

  /** The share of `owner/server` with one person or group (what they may read and leave). */
  async shareWith(target: ShareTarget, owner: string, server: string): Promise<ShareRecord | undefined> {
    const user = await findUser(this.deps.db, owner);
    const row = user ? await findServer(this.deps.db, user.id, server) : undefined;
    let grantee: Grantee | undefined;
    try {
      grantee = await this.grantee(target, 'path');
    } catch {
      grantee = undefined;
    }
    return row && grantee ? findShare(this.deps.db, row.id, grantee) : undefined;
  }

  /** A person or a group leaves a server shared with them. */
  async leave(share: ShareRecord): Promise<void> {
    await deleteShare(this.deps.db, share.id);
    this.afterRevoking({ owner: share.owner, server: share.server, user: share.user, group: share.group });
  }

  /** A new code; the code itself is returned this once and only its hash is kept. */
  async issueCode(owner: string, server: string, scopes: readonly string[], expiresInSeconds: number): Promise<{ record: ShareCodeRecord; code: string }> {
    const row = await this.server(owner, server);
    const code = `${CODE_PREFIX}${newSecret(24)}`;
    const record = await insertShareCode(this.deps.db, row.id, hashSecret(code), scopes, isoAfterSeconds(expiresInSeconds));
    this.deps.log.info({ owner, server, scopes, expires_at: record.expiresAt }, 'share code issued');
    return { record, code };
  }

  /** The unexpired code, if it exists. */
  async findCode(code: string): Promise<ShareCodeRecord | undefined> {
    if (!code) return undefined;
    return findShareCode(this.deps.db, hashSecret(code));
  }

  /** Revoke one code (by its id `sc_N` or the code itself), or all of the server's. */
  async revokeCodes(owner: string, server: string, which: { id?: string; code?: string }): Promise<void> {
    const row = await this.server(owner, server);
    if (which.id !== undefined) {
      const id = /^sc_(\d+)$/.exec(which.id)?.[1];
      if (!id || (await deleteShareCodes(this.deps.db, row.id, { id: Number(id) })) === 0) throw new SharingError(404, `No code found matching id=${which.id}`);
    } else if (which.code !== undefined) {
      if ((await deleteShareCodes(this.deps.db, row.id, { hash: hashSecret(which.code) })) === 0) throw new SharingError(404, 'No matching code found');
    } else {
      await deleteShareCodes(this.deps.db, row.id);
    }
    this.deps.log.info({ owner, server, id: which.id ?? (which.code ? '(by code)' : '(all)') }, 'share codes revoked');
  }

  /** Someone signed in accepts a code: they get its scopes on its server, added to any share they have. */
  async exchange(code: ShareCodeRecord, user: string): Promise<ShareRecord> {
    if (code.owner === user) throw new SharingError(400, 'You cannot accept a share of your own server.');
    const share = await this.grant(code.owner, code.server, { user }, code.scopes);
    await recordShareCodeExchange(this.deps.db, code.id);
    return share;
  }

  private afterRevoking(what: Record<string, unknown>): void {
    this.deps.identities.invalidate();
    this.deps.revocations.revoked();
    this.deps.log.info(what, 'shared access revoked');
  }
}
