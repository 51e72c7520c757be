// The agent runs on the Node.js line it is tested on. On an older one it must say so in one line,
// before a dependency crashes on an API that line lacks (execa needs Set.prototype.union, Node 22).
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { SUPPORTED_NODE_MAJOR } from '../../src/node-version.js';
import { CLI } from '../helpers/processes.js';

/** Makes the real node report another version before the CLI's first import runs. */
function asVersion(version: string): string {
  return `data:text/javascript,Object.defineProperty(process, "versions", { value: { ...process.versions, node: "${version}" } }); Object.defineProperty(process, "version", { value: "v${version}" });`;
}

describe('Node.js version', () => {
  it('the suite runs on the supported line', () => {
    expect(Number(process.versions.node.split('.')[0])).toBe(SUPPORTED_NODE_MAJOR);
  });

  it('on Node.js 20 the CLI exits 1 with one line naming the version it needs and how to get it', () => {
    const result = spawnSync(process.execPath, ['--import', asVersion('20.20.2'), CLI, 'doctor'], { encoding: 'utf8', timeout: 20_000 });
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trimEnd().split('\n')).toEqual([
      `netproc-agent: needs Node.js ${SUPPORTED_NODE_MAJOR}, this is v20.20.2; run it with \`npm start\` (the repository pins Node.js ${SUPPORTED_NODE_MAJOR}) or install Node.js ${SUPPORTED_NODE_MAJOR}`,
    ]);
  });

  it('on the supported line the same check lets the CLI run', () => {
    const result = spawnSync(process.execPath, ['--import', asVersion(`${SUPPORTED_NODE_MAJOR}.0.0`), CLI, '--help'], { encoding: 'utf8', timeout: 20_000 });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('usage: netproc-agent');
  });
});
