// The house's import rules (.dependency-cruiser.cjs): src/ keeps them, and a tree that breaks them
// (test/fixtures/import-rules) is reported with the rule's name.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const CONFIG = `${REPO}.dependency-cruiser.cjs`;
const PACKAGE = `${REPO}node_modules/dependency-cruiser/`;
/** The `depcruise` command, as the package names it (its file moves between majors). */
const DEPCRUISE = PACKAGE + (JSON.parse(readFileSync(`${PACKAGE}package.json`, 'utf8')) as { bin: Record<string, string> }).bin.depcruise!;

function cruise(cwd: string): { status: number | null; output: string } {
  const result = spawnSync(process.execPath, [DEPCRUISE, '--config', CONFIG, '--output-type', 'err', 'src'], { cwd, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('import rules', () => {
  it('src/ keeps them: cli -> commands -> agent -> collection -> aggregation -> sources -> host', () => {
    const { status, output } = cruise(REPO);
    expect(output).toContain('no dependency violations found');
    expect(status).toBe(0);
  });

  it('reports a deliberately wrong import, naming the rule it breaks', () => {
    const { status, output } = cruise(`${REPO}test/fixtures/import-rules`);
    expect(status).not.toBe(0);
    expect(output).toMatch(/host-imports-only-host: src\/host\/reads-a-source\.ts → src\/sources\/ss\/parse\.ts/);
    expect(output).toMatch(/host-imports-no-layer-above: src\/host\/reads-a-source\.ts → src\/sources\/ss\/parse\.ts/);
    expect(output).toMatch(/instruments-import-no-exporters: src\/instruments\/reads-an-exporter\.ts → src\/exporters\/push\.ts/);
  });
});
