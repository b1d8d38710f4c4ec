// auth.openshift: the mistakes an administrator can make are named by their key.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfigText } from '../../src/config/load.js';
import { configProblems } from '../helpers/config-problems.js';

const problems = (text: string) => configProblems(text);

test('auth.type openshift without its section, or with a client that is not a service account, is refused naming the key', () => {
  assert.match(problems('auth:\n  type: openshift\n'), /auth\.openshift: auth\.type openshift needs an auth\.openshift section/);
  assert.match(problems('auth:\n  type: openshift\n  openshift:\n    client_id: refinery\n'), /auth\.openshift\.client_id: .*system:serviceaccount:<namespace>:<name>/);
  assert.match(problems('auth:\n  type: github\n'), /auth\.type/);
});

test('defaults: the cluster\'s API server, the pod\'s service account token, user:info, groups managed', () => {
  const { config } = parseConfigText('auth:\n  type: openshift\n  openshift:\n    client_id: system:serviceaccount:notebooks:refinery-hub\n', '/etc/refinery/refinery.yaml');
  const o = config.auth.openshift!;
  assert.equal(o.api_url, 'https://kubernetes.default.svc');
  assert.deepEqual(o.client_secret, { file: '/var/run/secrets/kubernetes.io/serviceaccount/token' });
  assert.deepEqual(o.scope, ['user:info']);
  assert.equal(o.manage_groups, true);
});
