// spawner.kubernetes: defaults, and mistakes named by their key.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfigText } from '../../src/config/load.js';
import { configProblems } from '../helpers/config-problems.js';

const problems = (text: string) => configProblems(text);

describe('spawner.kubernetes', () => {
  test('defaults: KubeSpawner\'s names, a 10Gi home, no fixed uid, no token in pods', () => {
    const { config } = parseConfigText('spawner:\n  type: kubernetes\n  kubernetes: {}\n', '/etc/refinery/refinery.yaml');
    const k = config.spawner.kubernetes!;
    assert.equal(config.spawner.type, 'kubernetes');
    assert.equal(k.pod_name_template, 'jupyter-{user_server}');
    assert.equal(k.home_claim_template, 'claim-{username}');
    assert.equal(k.home_size, '10Gi');
    assert.equal(k.home_mount_path, '/home/jovyan');
    assert.equal(k.automount_service_account_token, false);
    assert.equal(k.uid, undefined);
    assert.deepEqual(k.cmd, ['jupyterhub-singleuser']);
  });

  test('each mistake names its key', () => {
    const message = problems([
      'spawner:',
      '  type: kubernetes',
      '  kubernetes:',
      '    namespace: Team_A',
      '    pod_name_template: "jupyter-{username}"',
      '    home_size: lots',
      '    uid: 0',
      '    hub_connect_url: not a url',
      '    tolerations: [{operator: Maybe}]',
      '    storage_clas: fast',
    ].join('\n'));
    assert.match(message, /spawner\.kubernetes\.namespace: a namespace is a DNS-1123 label/);
    assert.match(message, /spawner\.kubernetes\.pod_name_template: a pod name template needs \{user_server\}, or \{username\} and \{servername\}/);
    assert.match(message, /spawner\.kubernetes\.home_size: a size such as "10Gi"/);
    assert.match(message, /spawner\.kubernetes\.uid: /);
    assert.match(message, /spawner\.kubernetes\.hub_connect_url: /);
    assert.match(message, /spawner\.kubernetes\.tolerations\[0\]\.operator: expected one of "Exists", "Equal"/);
    assert.match(message, /spawner\.kubernetes\.storage_clas: unknown key \(did you mean "storage_class"\?\)/);
  });

  test('kubernetes settings with the local spawner are a mistake, not silently ignored', () => {
    assert.match(problems('spawner:\n  kubernetes: {namespace: team}\n'), /spawner\.kubernetes: only used with spawner\.type: kubernetes/);
  });
});
