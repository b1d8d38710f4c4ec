// src/auth/scopes.ts against JupyterHub's own scope model. Every expected value marked "JupyterHub 5.5.4"
// was computed with the jupyterhub package installed in envs/base, e.g.
//   envs/base/bin/python -c 'from jupyterhub.scopes import expand_scopes; ...'
// (users were orm.User objects in an in-memory JupyterHub database, alice a member of group "physics").
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  checkScopesExist,
  expandScopes,
  hasScope,
  intersectScopes,
  parseScopes,
  ScopeError,
  SCOPE_DEFINITIONS,
  type GroupLookup,
  type ScopeOwner,
} from '../../src/policy/scopes.js';

const alice: ScopeOwner = { kind: 'user', name: 'alice' };
const culler: ScopeOwner = { kind: 'service', name: 'culler' };
const sorted = (s: Iterable<string>) => [...s].sort();
/** alice is in "physics"; bob and carol are in no group. */
const groupsOf: GroupLookup = (name) => new Set(name === 'alice' ? ['physics'] : []);

describe('expandScopes', () => {
  test('"self" for a user is the user role of JupyterHub, bound to that user', () => {
    // JupyterHub 5.5.4: expand_scopes(['self'], owner=alice)
    assert.deepEqual(sorted(expandScopes(['self'], alice)), [
      'access:servers!user=alice', 'delete:servers!user=alice', 'read:servers!user=alice', 'read:shares!user=alice',
      'read:tokens!user=alice', 'read:users!user=alice', 'read:users:activity!user=alice', 'read:users:groups!user=alice',
      'read:users:name!user=alice', 'read:users:shares!user=alice', 'servers!user=alice', 'tokens!user=alice',
      'users:activity!user=alice', 'users:shares!user=alice',
    ]);
  });

  test('"self" grants a service nothing, and without an owner nothing', () => {
    // JupyterHub 5.5.4: expand_scopes(['self'], owner=<Service culler>) == frozenset()
    assert.deepEqual(sorted(expandScopes(['self'], culler)), []);
    assert.deepEqual(sorted(expandScopes(['self'])), []);
  });

  test('admin:users brings its whole subscope tree', () => {
    // JupyterHub 5.5.4: expand_scopes(['admin:users'])
    assert.deepEqual(sorted(expandScopes(['admin:users'])), [
      'admin:auth_state', 'admin:users', 'delete:users', 'list:users', 'read:roles:users', 'read:users',
      'read:users:activity', 'read:users:groups', 'read:users:name', 'users', 'users:activity',
    ]);
    // admin:users does not include servers or tokens
    assert.equal(expandScopes(['admin:users']).has('servers'), false);
    assert.equal(expandScopes(['admin:users']).has('tokens'), false);
  });

  test('admin:servers brings server state, start/stop and read', () => {
    // JupyterHub 5.5.4: expand_scopes(['admin:servers'])
    assert.deepEqual(sorted(expandScopes(['admin:servers'])), [
      'admin:server_state', 'admin:servers', 'delete:servers', 'read:servers', 'read:users:name', 'servers',
    ]);
  });

  test('unfiltered scopes absorb the filtered forms of the same scope', () => {
    // JupyterHub 5.5.4: expand_scopes(['self', 'servers'], owner=alice)
    assert.deepEqual(sorted(expandScopes(['self', 'servers'], alice)), [
      'access:servers!user=alice', 'delete:servers', 'read:servers', 'read:shares!user=alice', 'read:tokens!user=alice',
      'read:users!user=alice', 'read:users:activity!user=alice', 'read:users:groups!user=alice', 'read:users:name',
      'read:users:shares!user=alice', 'servers', 'tokens!user=alice', 'users:activity!user=alice', 'users:shares!user=alice',
    ]);
  });

  test('a bare !user filter binds to the owner, subscopes included', () => {
    // JupyterHub 5.5.4: expand_scopes(['read:servers!user'], owner=alice)
    assert.deepEqual(sorted(expandScopes(['read:servers!user'], alice)), ['read:servers!user=alice', 'read:users:name!user=alice']);
  });

  test('a bare !user filter on a service token grants nothing (there is no user to bind to)', () => {
    // JupyterHub 5.5.4: expand_scopes(['servers!user'], owner=<Service culler>) == frozenset()
    assert.deepEqual(sorted(expandScopes(['servers!user'], culler)), []);
  });

  test('a bare !service filter binds to the owning service', () => {
    // JupyterHub 5.5.4: expand_scopes(['read:services!service'], owner=<Service culler>)
    assert.deepEqual(sorted(expandScopes(['read:services!service'], culler)), ['read:services!service=culler', 'read:services:name!service=culler']);
  });

  test('!server binds to the server of a server token; user-model subscopes are not server-filtered', () => {
    // JupyterHub 5.5.4, the server role for alice's server "lab2" (oauth_client = that server's client):
    // expand_scopes(['users:activity!user', 'access:servers!server'], owner=alice, oauth_client=...)
    assert.deepEqual(sorted(expandScopes(['users:activity!user', 'access:servers!server'], alice, 'alice/lab2')), [
      'access:servers!server=alice/lab2', 'read:users:activity!user=alice', 'users:activity!user=alice',
    ]);
    // JupyterHub 5.5.4: expand_scopes(['read:servers!server'], ...) == {'read:servers!server=alice/lab2'} (no read:users:name)
    assert.deepEqual(sorted(expandScopes(['read:servers!server'], alice, 'alice/lab2')), ['read:servers!server=alice/lab2']);
    // without a server to bind to, !server grants nothing
    assert.deepEqual(sorted(expandScopes(['access:servers!server'], alice)), []);
  });

  test('unknown scopes are dropped rather than granted', () => {
    assert.deepEqual(sorted(expandScopes(['no-such-scope', 'read:hub'])), ['read:hub']);
  });
});

describe('hasScope', () => {
  const aliceScopes = parseScopes(expandScopes(['self'], alice));

  test('a user filter covers that user\'s servers, and only theirs', () => {
    // JupyterHub 5.5.4 has_scope(..., expand_scopes(['self'], owner=alice)):
    //   access:servers!server=alice/lab2 True, !server=bob/ False, !user=bob False, unfiltered False, read:users!user=alice True
    assert.equal(hasScope('access:servers!server=alice/lab2', aliceScopes), true);
    assert.equal(hasScope('access:servers!server=alice/', aliceScopes), true);
    assert.equal(hasScope('access:servers!server=bob/', aliceScopes), false);
    assert.equal(hasScope('access:servers!user=bob', aliceScopes), false);
    assert.equal(hasScope('access:servers', aliceScopes), false);
    assert.equal(hasScope('read:users!user=alice', aliceScopes), true);
  });

  test('no leakage through look-alike names', () => {
    // a prefix of the name is not the name; the user part of a server ends at the first "/"
    assert.equal(hasScope('access:servers!user=alic', aliceScopes), false);
    assert.equal(hasScope('access:servers!user=alice2', aliceScopes), false);
    assert.equal(hasScope('access:servers!server=alice2/', aliceScopes), false);
    assert.equal(hasScope('access:servers!server=alicex/lab', aliceScopes), false);
    assert.equal(hasScope('read:users!user=bob', aliceScopes), false);
    // holding one scope says nothing about another
    assert.equal(hasScope('admin:users!user=alice', aliceScopes), false);
    assert.equal(hasScope('delete:users!user=alice', aliceScopes), false);
  });

  test('a server filter does not reach the rest of the user', () => {
    const serverOnly = parseScopes(['access:servers!server=alice/lab2']);
    assert.equal(hasScope('access:servers!server=alice/lab2', serverOnly), true);
    assert.equal(hasScope('access:servers!server=alice/', serverOnly), false);
    assert.equal(hasScope('access:servers!user=alice', serverOnly), false);
  });

  test('group filters are resolved through the lookup', () => {
    // JupyterHub 5.5.4 with db: access:servers!group=physics grants alice/ True, !user=alice True, bob/ False;
    // without db (no lookup) alice/ False
    const physics = parseScopes(expandScopes(['access:servers!group=physics']));
    assert.equal(hasScope('access:servers!server=alice/', physics, groupsOf), true);
    assert.equal(hasScope('access:servers!user=alice', physics, groupsOf), true);
    assert.equal(hasScope('access:servers!server=bob/', physics, groupsOf), false);
    assert.equal(hasScope('access:servers!user=bob', physics, groupsOf), false);
    assert.equal(hasScope('access:servers!server=alice/', physics), false);
  });

  test('unfiltered scopes grant every resource', () => {
    const admin = parseScopes(expandScopes(['admin:servers']));
    assert.equal(hasScope('servers!server=anyone/any', admin), true);
    assert.equal(hasScope('read:users:name!user=zed', admin), true);
    assert.equal(hasScope('read:users!user=zed', admin), false);
  });
});

describe('intersectScopes', () => {
  const ownerAlice = expandScopes(['self'], alice);

  test('a token asking for admin powers gets only what its owner holds', () => {
    // JupyterHub 5.5.4: _intersect_expanded_scopes(expand_scopes(['read:users','servers','admin:users']), expand_scopes(['self'], owner=alice))
    assert.deepEqual(sorted(intersectScopes(expandScopes(['read:users', 'servers', 'admin:users']), ownerAlice)), [
      'delete:servers!user=alice', 'read:servers!user=alice', 'read:users!user=alice', 'read:users:activity!user=alice',
      'read:users:groups!user=alice', 'read:users:name!user=alice', 'servers!user=alice', 'users:activity!user=alice',
    ]);
  });

  test('another user\'s resources intersect to nothing', () => {
    // JupyterHub 5.5.4: _intersect_expanded_scopes(expand_scopes(['read:users!user=bob']), expand_scopes(['self'], owner=alice)) == set()
    assert.deepEqual(sorted(intersectScopes(expandScopes(['read:users!user=bob']), ownerAlice)), []);
  });

  test('servers are kept when the other side holds their user', () => {
    // JupyterHub 5.5.4: access:servers!server=alice/lab2 + !server=bob/ vs access:servers!user=alice -> ['access:servers!server=alice/lab2']
    assert.deepEqual(
      sorted(intersectScopes(expandScopes(['access:servers!server=alice/lab2', 'access:servers!server=bob/']), expandScopes(['access:servers!user=alice']))),
      ['access:servers!server=alice/lab2'],
    );
  });

  test('an unfiltered scope keeps the other side\'s filters', () => {
    // JupyterHub 5.5.4: _intersect_expanded_scopes(expand_scopes(['admin:users']), expand_scopes(['read:users!user=alice','users!user=bob']))
    assert.deepEqual(sorted(intersectScopes(expandScopes(['admin:users']), expandScopes(['read:users!user=alice', 'users!user=bob']))), [
      'list:users!user=bob', 'read:users!user=alice', 'read:users!user=bob', 'read:users:activity!user=alice',
      'read:users:activity!user=bob', 'read:users:groups!user=alice', 'read:users:groups!user=bob', 'read:users:name!user=alice',
      'read:users:name!user=bob', 'users!user=bob', 'users:activity!user=bob',
    ]);
  });

  test('group filters resolve against users and servers through the lookup', () => {
    // JupyterHub 5.5.4 (db given): read:users!group=physics vs read:users!user=alice,bob -> alice only
    assert.deepEqual(sorted(intersectScopes(expandScopes(['read:users!group=physics']), expandScopes(['read:users!user=alice', 'read:users!user=bob']), groupsOf)), [
      'read:users!user=alice', 'read:users:activity!user=alice', 'read:users:groups!user=alice', 'read:users:name!user=alice',
    ]);
    // JupyterHub 5.5.4: group vs group keeps the common group
    assert.deepEqual(sorted(intersectScopes(expandScopes(['read:users!group=physics', 'read:users!group=chem']), expandScopes(['read:users!group=physics']), groupsOf)), [
      'read:users!group=physics', 'read:users:activity!group=physics', 'read:users:groups!group=physics', 'read:users:name!group=physics',
    ]);
    // JupyterHub 5.5.4: servers!server=alice/x vs servers!group=physics -> alice/x; carol/x -> nothing
    assert.deepEqual(sorted(intersectScopes(expandScopes(['servers!server=alice/x']), expandScopes(['servers!group=physics']), groupsOf)), [
      'delete:servers!server=alice/x', 'read:servers!server=alice/x', 'servers!server=alice/x',
    ]);
    assert.deepEqual(sorted(intersectScopes(expandScopes(['servers!server=carol/x']), expandScopes(['servers!group=physics']), groupsOf)), []);
  });

  test('intersection is symmetric', () => {
    const a = expandScopes(['read:users', 'servers!server=alice/x', 'access:servers!group=physics']);
    const b = expandScopes(['self'], alice);
    assert.deepEqual(sorted(intersectScopes(a, b, groupsOf)), sorted(intersectScopes(b, a, groupsOf)));
  });
});

describe('checkScopesExist', () => {
  test('accepts every defined scope and the filter forms JupyterHub accepts', () => {
    checkScopesExist(Object.keys(SCOPE_DEFINITIONS));
    checkScopesExist(['read:users!user', 'servers!server', 'read:services!service', 'read:users!user=alice', 'servers!server=alice/lab', 'read:users!group=physics', 'read:services!service=culler']);
  });

  test('names the unknown scope', () => {
    // JupyterHub 5.5.4: ScopeNotFound "Scope 'not-a-scope'  does not exist"
    assert.throws(() => checkScopesExist(['read:users', 'not-a-scope']), (e: Error) => e instanceof ScopeError && e.message.includes('"not-a-scope"'));
    // a scope name differing only by case is a different (unknown) scope
    assert.throws(() => checkScopesExist(['READ:USERS']), ScopeError);
  });

  test('rejects unknown or incomplete filters', () => {
    // JupyterHub 5.5.4: ScopeNotFound for '!usr=alice' and for a bare '!group'
    assert.throws(() => checkScopesExist(['read:users!usr=alice']), (e: Error) => e instanceof ScopeError && e.message.includes('read:users!usr=alice'));
    assert.throws(() => checkScopesExist(['read:users!group']), ScopeError);
  });
});
