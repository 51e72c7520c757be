// Renders docs/configuration.md from the schema, so the reference cannot drift from the code.
import { schemaLeaves } from './load.js';

export function renderConfigReference(): string {
  const rows = schemaLeaves().map(([key, leaf]) => {
    const flag = leaf.arg ? (leaf.format === Boolean ? `\`--${leaf.arg}\` / \`--no-${leaf.arg}\`` : `\`--${leaf.arg}\``) : '';
    return `| \`${key}\` | ${flag} | \`${leaf.env}\` | \`${JSON.stringify(leaf.default)}\` | ${leaf.doc} |`;
  });
  return [
    '# Configuration reference',
    '',
    '<!-- Generated from src/config/schema.ts and the sources\' config.ts by `npm run docs:config`; test/docs keeps it in sync. -->',
    '',
    'Precedence, lowest first: defaults, the config file (`--config FILE` or `NETPROC_CONFIG`, YAML or JSON),',
    '`NETPROC_*` environment variables, flags. Durations take a unit: `500ms`, `5s`, `1m`, `1h`.',
    'Bad input (an unknown key, source or flag, an unparsable value, a missing or broken file) stops the',
    'agent before anything starts, with one line naming the key and exit code 2.',
    '',
    '| key | flag | environment | default | meaning |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    '',
    'The standard OpenTelemetry variables `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME` set resource attributes.',
    '',
  ].join('\n');
}
