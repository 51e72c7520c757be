// Every YAML file under deploy/ and otel-collector/ parses, every document of it; the dashboard is JSON.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { REPO } from '../helpers/processes.js';

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

const files = [...filesUnder(join(REPO, 'deploy')), ...filesUnder(join(REPO, 'otel-collector'))];
const yamlFiles = files.filter((f) => /\.ya?ml$/.test(f));

describe('deploy/ and otel-collector/ files', () => {
  it('include the Collector config, the kustomizations, the Prometheus config and the manifests', () => {
    expect(yamlFiles.length).toBeGreaterThanOrEqual(20);
  });

  it.each(yamlFiles.map((f) => [relative(REPO, f)]))('%s parses as YAML', (file) => {
    const docs = parseAllDocuments(readFileSync(join(REPO, file), 'utf8'));
    expect(docs.length).toBeGreaterThan(0);
    for (const doc of docs) {
      expect(doc.errors.map((e) => e.message)).toEqual([]);
      expect(doc.warnings.map((e) => e.message)).toEqual([]);
      expect(doc.toJS()).toBeTruthy();
    }
  });

  it.each(files.filter((f) => f.endsWith('.json')).map((f) => [relative(REPO, f)]))('%s parses as JSON', (file) => {
    expect(() => JSON.parse(readFileSync(join(REPO, file), 'utf8'))).not.toThrow();
  });
});
