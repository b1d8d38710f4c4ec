import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RouteTable } from '../../src/proxy/routes.js';

const A = 'http://127.0.0.1:41001';
const B = 'http://127.0.0.1:41002';

function table(): RouteTable {
  const t = new RouteTable();
  t.set('/user/alice/', A, { user: 'alice', server: '' });
  t.set('/user/alice/lab2', B, { user: 'alice', server: 'lab2' });
  return t;
}

describe('RouteTable.match', () => {
  it('prefers the named server over the default one (longest prefix)', () => {
    const t = table();
    assert.equal(t.match('/user/alice/lab2/api/kernels')?.target, B);
    assert.equal(t.match('/user/alice/lab2/')?.target, B);
    assert.equal(t.match('/user/alice/lab2')?.target, B);
    assert.equal(t.match('/user/alice/lab/tree/a/b/c.ipynb')?.target, A);
    assert.equal(t.match('/user/alice/')?.target, A);
  });

  it("matches '/user/alice' without the trailing slash", () => {
    assert.equal(table().match('/user/alice')?.prefix, '/user/alice/');
  });

  it('matches whole segments only', () => {
    const t = table();
    assert.equal(t.match('/user/alicex/'), undefined);
    assert.equal(t.match('/user/alicex'), undefined);
    assert.equal(t.match('/user/alice/lab22/x')?.target, A, 'lab22 is not lab2');
    assert.equal(t.match('/user/'), undefined);
    assert.equal(t.match('/hub/home'), undefined);
  });

  it('ignores the query string', () => {
    const t = table();
    assert.equal(t.match('/user/alice?token=x')?.target, A);
    assert.equal(t.match('/user/alice/lab2?a=/user/bob/')?.target, B);
    assert.equal(t.match('/user/bob?next=/user/alice/'), undefined);
  });

  it('compares the raw, percent-encoded path', () => {
    const t = table();
    assert.equal(t.match('/user/alice%2Flab2/x')?.target, undefined, 'an encoded slash is not a segment boundary');
    assert.equal(t.match('/user/%61lice/'), undefined);
    t.set('/user/j%C3%BCrgen/', B, { user: 'jürgen', server: '' });
    assert.equal(t.match('/user/j%C3%BCrgen/api')?.target, B);
  });

  it('still finds shallow routes after the deepest one is removed, and deep ones added later', () => {
    const t = table();
    assert.equal(t.delete('/user/alice/lab2/'), true);
    assert.equal(t.match('/user/alice/lab2/api')?.target, A);
    t.set('/user/bob/a/b/', B, { user: 'bob', server: 'x' });
    assert.equal(t.match('/user/bob/a/b/c/d')?.target, B);
    assert.equal(t.match('/user/bob/a/x'), undefined);
  });

  it('can route the root prefix', () => {
    const t = new RouteTable();
    t.set('/', A, { user: '', server: '' });
    assert.equal(t.match('/anything/at/all')?.target, A);
    assert.equal(t.match('/')?.target, A);
  });

  it('returns nothing for paths that are not origin-form', () => {
    assert.equal(table().match('http://evil/user/alice/'), undefined);
    assert.equal(table().match('*'), undefined);
  });
});

describe('RouteTable.set/get/delete/list', () => {
  it('normalizes the prefix to a trailing slash', () => {
    const t = new RouteTable();
    const r = t.set('/user/alice', A, { user: 'alice', server: '' });
    assert.equal(r.prefix, '/user/alice/');
    assert.equal(t.get('/user/alice'), r);
    assert.equal(t.get('/user/alice/'), r);
    assert.equal(t.size, 1);
  });

  it('replacing a route updates the same object so open connections see the change', () => {
    const t = table();
    const before = t.get('/user/alice/')!;
    before.lastActivity = 123;
    const after = t.set('/user/alice/', B, { user: 'alice', server: '' });
    assert.equal(after, before);
    assert.equal(after.target, B);
    assert.equal(after.lastActivity, 123);
    assert.equal(t.size, 2);
  });

  it('new routes start with the current time as activity', () => {
    const t = new RouteTable();
    const now = Date.now();
    const r = t.set('/user/a/', A, { user: 'a', server: '' });
    assert.ok(r.lastActivity >= now && r.lastActivity <= Date.now());
  });

  it('delete reports whether something was removed', () => {
    const t = table();
    assert.equal(t.delete('/user/alice'), true);
    assert.equal(t.delete('/user/alice/'), false);
    assert.equal(t.match('/user/alice/tree'), undefined);
    assert.deepEqual(t.list().map((r) => r.prefix), ['/user/alice/lab2/']);
  });

  it('list returns copies of the table, not the table', () => {
    const t = table();
    const l = t.list();
    l.pop();
    assert.equal(t.size, 2);
  });

  it('rejects targets with a path and prefixes that are not paths', () => {
    const t = new RouteTable();
    assert.throws(() => t.set('/user/a/', 'http://127.0.0.1:1/user/a/', { user: 'a', server: '' }));
    assert.throws(() => t.set('/user/a/', 'ftp://127.0.0.1:1', { user: 'a', server: '' }));
    assert.throws(() => t.set('user/a/', A, { user: 'a', server: '' }));
    assert.throws(() => t.set('/user/a/?x', A, { user: 'a', server: '' }));
    assert.equal(t.size, 0);
  });

  it('keeps only the origin of the target', () => {
    const t = new RouteTable();
    assert.equal(t.set('/user/a/', 'http://127.0.0.1:8888/', { user: 'a', server: '' }).target, 'http://127.0.0.1:8888');
  });
});
