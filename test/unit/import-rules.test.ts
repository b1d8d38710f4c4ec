// The folder rules of .dependency-cruiser.cjs hold for src/: pages and the REST API do not import
// each other, publishing does not import the HTTP layer, cluster backends do not import spawners,
// no module imports its own importer.
// The same rules are first shown to catch each forbidden edge in a small tree of their own, so this
// cannot pass by checking nothing. Scope checks themselves happen only in src/policy.
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import { cruise, type ICruiseResult, type IConfiguration } from 'dependency-cruiser';
import { repoRoot } from '../../src/host/repo-root.js';
import { tmpDir } from '../helpers/tmp.js';

const ROOT = repoRoot();
const config = createRequire(import.meta.url)(join(ROOT, '.dependency-cruiser.cjs')) as IConfiguration;

async function cruiseTree(baseDir: string): Promise<ICruiseResult> {
  const result = await cruise(['src'], {
    baseDir,
    validate: true,
    ruleSet: { forbidden: config.forbidden ?? [] },
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  });
  assert.equal(typeof result.output, 'object');
  return result.output as ICruiseResult;
}

function violations(result: ICruiseResult): string[] {
  return result.summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`).sort();
}

describe('import rules', () => {
  test('each rule catches its forbidden edge', async (t) => {
    const tmp = await tmpDir('import-rules');
    t.after(() => tmp.cleanup());
    const dir = tmp.path;
    const files: Record<string, string> = {
      'src/web/page.ts': "import { route } from '../api/route.js';\nexport const page = route;\n",
      'src/api/route.ts': "import { view } from '../web/view.js';\nexport const route = view;\n",
      'src/web/view.ts': 'export const view = 1;\n',
      'src/publish/service.ts': "import { view } from '../web/view.js';\nexport const service = view;\n",
      'src/clusters/local.ts': "import { launch } from '../spawners/local.js';\nexport const cluster = launch;\n",
      'src/spawners/local.ts': 'export const launch = 1;\n',
      'src/util/a.ts': "import { b } from './b.js';\nexport const a = () => b;\n",
      'src/util/b.ts': "import { a } from './a.js';\nexport const b = () => a;\n",
    };
    for (const [path, text] of Object.entries(files)) {
      await mkdir(dirname(join(dir, path)), { recursive: true });
      await writeFile(join(dir, path), text);
    }
    assert.deepEqual(violations(await cruiseTree(dir)), [
      'api-not-web: src/api/route.ts -> src/web/view.ts',
      'clusters-not-spawners: src/clusters/local.ts -> src/spawners/local.ts',
      'domain-not-http: src/publish/service.ts -> src/web/view.ts',
      'no-cycles: src/util/a.ts -> src/util/b.ts', // a cycle is reported once
      'publish-not-http: src/publish/service.ts -> src/web/view.ts',
      'web-not-api: src/web/page.ts -> src/api/route.ts',
    ]);
  });

  test('src/ keeps them, with every relative import resolved', async () => {
    const result = await cruiseTree(ROOT);
    assert.deepEqual(violations(result), []);
    const unresolved = result.modules.flatMap((m) => m.dependencies.filter((d) => d.couldNotResolve && d.module.startsWith('.')).map((d) => `${m.source} -> ${d.module}`));
    assert.deepEqual(unresolved, [], 'an unresolved import would hide its edge from the rules');
    const servers = result.modules.find((m) => m.source === 'src/api/routes/servers.ts');
    assert.ok(servers?.dependencies.some((d) => d.resolved === 'src/policy/authorize.ts'), 'the graph has the API route -> policy edge');
    assert.ok(result.modules.length > 200, `the whole of src/ was read (${result.modules.length} modules)`);
  });

  test('scopes are checked only in src/policy', async () => {
    const result = await cruiseTree(ROOT);
    const outside: string[] = [];
    for (const { source } of result.modules) {
      if (!source.startsWith('src/') || source.startsWith('src/policy/')) continue;
      const text = await readFile(join(ROOT, source), 'utf8');
      if (/\.can(Some)?\(|\bhasScope\(/.test(text)) outside.push(source);
    }
    assert.deepEqual(outside, [], 'access is decided through policy/authorize.ts and policy/rules.ts');
  });
});
