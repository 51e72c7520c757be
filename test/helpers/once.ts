// Runs `netproc-agent once --format json` and returns its rows.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CLI } from './processes.js';

export interface OnceRow {
  pid: number;
  name: string;
  transport: string;
  rxBytes?: number;
  txBytes?: number;
  connections: Record<string, number>;
}

export async function once(args: readonly string[]): Promise<{ sources: Record<string, string>; processes: OnceRow[] }> {
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'once', '--format', 'json', '--log-level', 'warn', ...args], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(stdout) as { sources: Record<string, string>; processes: OnceRow[] };
}

export function connectionsOf(rows: readonly OnceRow[], pid: number, transport: string): Record<string, number> {
  return rows.find((r) => r.pid === pid && r.transport === transport)?.connections ?? {};
}
