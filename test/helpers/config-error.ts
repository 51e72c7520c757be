// The contract of a configuration error: the agent stops before anything starts, with exit code 2,
// nothing on stdout, and one line on stderr that names the key, with no stack trace.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { expect } from 'vitest';
import { CLI } from './processes.js';

/** Runs `netproc-agent run ARGV` with ENV added, and asserts the contract; the line must match `line`. */
export function expectConfigError(argv: readonly string[], env: NodeJS.ProcessEnv, line: RegExp): SpawnSyncReturns<string> {
  const result = spawnSync(process.execPath, [CLI, 'run', '--prometheus-host', '127.0.0.1', ...argv], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  expect(result.status, result.stderr).toBe(2);
  expect(result.stdout).toBe('');
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(line);
  expect(result.stderr).not.toMatch(/^\s+at /m);
  return result;
}
