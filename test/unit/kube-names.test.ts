// Pod names from user and server names: KubeSpawner's escaping, and never the same name for two servers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { escapeName, expandName, serverLabels } from '../../src/spawners/kubernetes/names.js';

const pod = (user: string, server: string) => expandName('jupyter-{user_server}', user, server);

describe('pod names', () => {
  test('escaped as KubeSpawner escapes them', () => {
    assert.equal(escapeName('alice'), 'alice');
    assert.equal(escapeName('a.b'), 'a-2eb');
    assert.equal(escapeName('a-b'), 'a-2db');
    assert.equal(escapeName('ünal'), '-c3-bcnal');
    assert.equal(pod('alice', ''), 'jupyter-alice');
    assert.equal(pod('alice', 'lab2'), 'jupyter-alice--lab2');
  });

  test('pairs that a plain "-" join would confuse get different names', () => {
    const pairs: [string, string][] = [['a', 'b-c'], ['a-b', 'c'], ['a--b', ''], ['a', '-b'], ['a-', 'b'], ['a', 'B'], ['a', 'b'], ['a.b', ''], ['a_b', '']];
    const names = pairs.map(([u, s]) => pod(u, s));
    assert.equal(new Set(names).size, pairs.length, names.join(' '));
    for (const name of names) assert.match(name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  });

  test('long names are cut to 63 with a hash of the exact names', () => {
    const a = pod('x'.repeat(80), '');
    const b = pod(`${'x'.repeat(79)}y`, '');
    assert.equal(a.length, 63);
    assert.notEqual(a, b);
  });

  test('label values are valid and distinct even where the escaped name is not a label value', () => {
    const LABEL = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
    const a = serverLabels('refinery', 'singleuser-server', 'ünal', 'Lab.2');
    const b = serverLabels('refinery', 'singleuser-server', 'unal', 'lab.2');
    for (const value of [...Object.values(a), ...Object.values(b)]) assert.match(value, LABEL);
    assert.notEqual(a['hub.jupyter.org/username'], b['hub.jupyter.org/username']);
    assert.notEqual(a['hub.jupyter.org/servername'], b['hub.jupyter.org/servername']);
  });
});
