// The configuration reference and the example config stay in step with the schema.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadInvocation, schemaLeaves } from '../../src/config/load.js';
import { renderConfigReference } from '../../src/config/reference.js';
import { schema } from '../../src/config/schema.js';
import { METRICS } from '../../src/semconv.js';

const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('documentation in sync with the code', () => {
  it('docs/configuration.md is what `npm run docs:config` generates', () => {
    expect(read('docs/configuration.md')).toBe(renderConfigReference());
  });

  it('config/agent.example.yaml loads cleanly, sets every key, and sets each to its default', () => {
    const example = new URL('../../config/agent.example.yaml', import.meta.url).pathname;
    const { config } = loadInvocation(['--config', example], {});
    const defaults = loadInvocation([], {}).config;
    expect(config).toEqual(defaults);
    const text = read('config/agent.example.yaml');
    for (const [key] of schemaLeaves(schema)) {
      expect(text, key).toMatch(new RegExp(`^\\s*${key.split('.').at(-1)}:`, 'm'));
    }
  });

  it('docs/metrics.md and the README name every contract series exactly', () => {
    for (const doc of ['docs/metrics.md', 'README.md']) {
      const text = read(doc);
      for (const spec of Object.values(METRICS)) expect(text, `${doc}: ${spec.prometheusName}`).toContain(`\`${spec.prometheusName}\``);
    }
  });
});
