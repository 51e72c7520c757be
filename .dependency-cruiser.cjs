// Import rules, checked by `npm test` (test/import-rules.test.ts runs dependency-cruiser). They are
// the house's layers (STYLE.md, "The house"): imports run one way, from the face down to the host,
//   cli -> commands -> agent -> collection -> aggregation -> sources -> host
// and instruments / exporters read the snapshot; nothing below imports them.
// Paths are matched from the directory the check runs in, so a fixture tree with its own src/
// (test/fixtures/import-rules) is checked by the same rules.

/** Layers, top first: a layer may import the layers after it, never those before it. */
const LAYERS = ['cli', 'commands', 'agent', 'collection', 'aggregation', 'sources', 'host'];
const dir = (layer) => (layer === 'cli' || layer === 'agent' ? `^src/${layer}\\.tsx?$` : `^src/${layer}/`);

const upward = LAYERS.slice(1).map((layer, i) => ({
  name: `${layer}-imports-no-layer-above`,
  comment: `src/${layer} is below ${LAYERS.slice(0, i + 1).join(', ')}: it must not import them (imports run cli -> commands -> agent -> collection -> aggregation -> sources -> host)`,
  severity: 'error',
  from: { path: dir(layer) },
  to: { path: LAYERS.slice(0, i + 1).map(dir) },
}));

module.exports = {
  forbidden: [
    ...upward,
    {
      name: 'nothing-below-imports-instruments-or-exporters',
      comment: 'instruments and exporters read the snapshot; collection, aggregation, sources and host never import them',
      severity: 'error',
      from: { path: ['^src/collection/', '^src/aggregation/', '^src/sources/', '^src/host/'] },
      to: { path: ['^src/instruments/', '^src/exporters/'] },
    },
    {
      name: 'instruments-import-no-exporters',
      comment: 'instruments make the metrics; exporters send them: instruments never import exporters',
      severity: 'error',
      from: { path: '^src/instruments/' },
      to: { path: '^src/exporters/' },
    },
    {
      name: 'host-imports-only-host',
      comment: 'src/host touches the machine for everyone; it imports nothing of the agent but itself and semconv.ts',
      severity: 'error',
      from: { path: '^src/host/' },
      to: { path: '^src/', pathNot: ['^src/host/', '^src/semconv\\.ts$'] },
    },
    {
      name: 'sources-read-only-config-keys',
      comment: 'a source describes its keys with config/keys.ts; it never imports the assembled schema or the loader',
      severity: 'error',
      from: { path: '^src/sources/' },
      to: { path: '^src/config/', pathNot: ['^src/config/keys\\.ts$', '^src/config/duration\\.ts$'] },
    },
    {
      name: 'config-reads-only-source-definitions',
      comment: "the config schema imports the registry and the sources' definitions and config fragments, never a source's implementation",
      severity: 'error',
      from: { path: '^src/config/' },
      to: {
        path: '^src/sources/',
        pathNot: ['^src/sources/registry\\.ts$', '^src/sources/definition\\.ts$', '^src/sources/[^/]+/(definition|config)\\.ts$'],
      },
    },
    {
      name: 'definitions-load-sources-on-demand',
      comment: "a source's definition loads its implementation with import() in create(), so reading the definitions (the schema does) loads no source",
      severity: 'error',
      from: { path: '^src/sources/[^/]+/(definition|config)\\.ts$' },
      to: { path: '^src/sources/[^/]+/', pathNot: '^src/sources/[^/]+/(definition|config)\\.ts$', dependencyTypesNot: ['dynamic-import'] },
    },
    {
      name: 'sources-keep-to-their-folder',
      comment: "a source never imports another source's folder; what two sources share lives beside them in src/sources/",
      severity: 'error',
      from: { path: '^src/sources/([^/]+)/' },
      to: { path: '^src/sources/[^/]+/', pathNot: '^src/sources/$1/' },
    },
    {
      name: 'no-circular',
      comment: 'a cycle makes the layers meaningless',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)node_modules/' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.tsx', '.js'] },
  },
};
