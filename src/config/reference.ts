// Renders docs/configuration.md from the schema, so the reference cannot drift from the code.
import { schemaLeaves } from './load.js';

export function renderConfigReference(): string {
  const rows = schemaLeaves().map(([key, leaf]) => {
    const l = leaf as typeof leaf & { env?: string; default: unknown };
    const flag = l.arg ? (l.format === Boolean ? `\`--${l.arg}\` / \`--no-${l.arg}\`` : `\`--${l.arg}\``) : '';
    return `| \`${key}\` | ${flag} | \`${l.env ?? ''}\` | \`${JSON.stringify(l.default)}\` | ${l.doc} |`;
  });
  return [
    '# Configuration reference',
    '',
    '<!-- Generated from src/config/schema.ts by `npm run docs:config`; test/docs keeps it in sync. -->',
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
