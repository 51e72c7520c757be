// `doctor` run without privileges names the capabilities that PID mapping needs, with the fix;
// run as root with every capability it reports no such problem.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI } from '../helpers/processes.js';
import { missing } from '../helpers/requirements.js';

describe.skipIf(missing('doctor', 'root', 'setpriv', 'ss'))('doctor', () => {
  it('as uid 65534 without capabilities: names CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH for ss and procfs', () => {
    const result = spawnSync(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--', process.execPath, CLI, 'doctor', '--sources', 'ss,procfs'],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^uid 65534, effective capabilities 0x0$/m);
    for (const source of ['ss', 'procfs']) {
      const section = result.stdout.split('\n\n').find((s) => s.startsWith(`${source}:`))!;
      expect(section).toMatch(/usable, degraded/);
      expect(section).toMatch(/warning: missing CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH/);
      expect(section).toMatch(/fix: .*capabilities\.add: \[SYS_PTRACE, DAC_READ_SEARCH\]/);
    }
  });

  it('as root: ss and procfs usable, no warnings, and the selection per family', () => {
    const result = spawnSync(process.execPath, [CLI, 'doctor', '--sources', 'ss,procfs'], { encoding: 'utf8', timeout: 30_000 });
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^ss: usable \(measures bytes, packets, connections\)$/m);
    expect(result.stdout).toMatch(/^procfs: usable \(measures connections\)$/m);
    expect(result.stdout).not.toMatch(/warning/);
    expect(result.stdout).toMatch(/selection:\n {2}bytes: ss\n {2}packets: ss\n {2}connections: ss/);
  });

  it('reports a source that cannot run, with the fix, and exits 1 when none can', () => {
    const result = spawnSync(process.execPath, [CLI, 'doctor', '--sources', 'ss', '--ss-path', '/nonexistent/ss'], { encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stdout).toMatch(/^ss: NOT usable/m);
    expect(result.stdout).toMatch(/problem: cannot run "\/nonexistent\/ss": ENOENT/);
    expect(result.stdout).toMatch(/fix: install iproute2/);
  });
});
