// Which folders of src/ may import which. Checked by test/unit/import-rules.test.ts (and by
// `npx depcruise src` by hand). The pages (web) and the REST API (api) are two faces of the same
// resources: what both need lives below them (policy, presenters, http, the domain folders).
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'A module that needs its own importer splits out what both need (an interface, an error).',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'api-not-web',
      comment: 'The REST API does not import pages; what both need lives in policy/, presenters/ or http/.',
      severity: 'error',
      from: { path: '^src/api/' },
      to: { path: '^src/web/' },
    },
    {
      name: 'web-not-api',
      comment: 'Pages do not import the REST API; what both need lives in policy/, presenters/ or http/.',
      severity: 'error',
      from: { path: '^src/web/' },
      to: { path: '^src/api/' },
    },
    {
      name: 'publish-not-http',
      comment: 'Publishing is a domain service: the HTTP layer (api, web, http, presenters) calls it, not the other way round.',
      severity: 'error',
      from: { path: '^src/publish/' },
      to: { path: '^src/(api|web|http|presenters)/' },
    },
    {
      name: 'clusters-not-spawners',
      comment: 'Cluster backends share the local machine with the spawner through host/, not through spawners/.',
      severity: 'error',
      from: { path: '^src/clusters/' },
      to: { path: '^src/spawners/' },
    },
    {
      name: 'host-not-backends',
      comment: 'host/ is what the local backends stand on; it knows none of them.',
      severity: 'error',
      from: { path: '^src/host/' },
      to: { path: '^src/(spawners|clusters|servers|api|web|http)/' },
    },
    {
      name: 'policy-is-a-leaf',
      comment: 'Access is decided from scopes alone: policy/ does not reach into HTTP, the database or backends.',
      severity: 'error',
      from: { path: '^src/policy/' },
      to: { path: '^src/', pathNot: '^src/(policy|auth/identity[.]ts)' },
    },
    {
      name: 'domain-not-http',
      comment: 'Domain folders do not import the HTTP layer.',
      severity: 'error',
      from: { path: '^src/(servers|clusters|spawners|profiles|storage|users|db|kubernetes|host|policy|publish|sharing)/' },
      to: { path: '^src/(api|web|presenters)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
