// The ebpf engine (netproc-loader) run alone at a 1 s interval: its CPU and iterator time per
// collection, over the sockets on the host as they stand.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { LOADER } from '../../test/helpers/requirements.js';
import { processCpuMsPrecise } from './cpu.mjs';
import { summarize, type Summary } from './stats.js';

/** Intervals thrown away first: they include start-up. */
const START_INTERVALS = 2;

export interface LoaderCycles {
  /** CPU between two consecutive interval lines (schedstat, ns), per interval. */
  perInterval: Summary;
  /** CPU over all measured intervals divided by their number. */
  meanMs: number;
  /** The iterator's own wall time per interval, as the loader reports it. */
  iterMs: Summary;
  /** Sockets the loader's iterator saw in the last interval. */
  sockets: number;
  rssMiB: number;
}

/** Whether the engine has been built (npm run build with clang and libbpf-dev). */
export function loaderBuilt(): boolean {
  try {
    readFileSync(LOADER);
    return true;
  } catch {
    return false;
  }
}

export function rssMiB(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return kb ? Number(kb[1]) / 1024 : 0;
}

/** Runs the loader for START_INTERVALS + `intervals` + 1 interval lines, then stops it. */
export async function loaderCycles(intervals: number): Promise<LoaderCycles> {
  const proc = spawn(LOADER, ['--interval-ms', '1000'], { stdio: ['pipe', 'pipe', 'ignore'] });
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  try {
    const seen: Array<{ sockets: number; iterNs: number; cpuMs: number }> = [];
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const o = JSON.parse(line) as { type: string; sockets: number; iterNs: number };
      if (o.type === 'interval') seen.push({ sockets: o.sockets, iterNs: o.iterNs, cpuMs: processCpuMsPrecise(proc.pid!) });
    });
    while (seen.length < START_INTERVALS + intervals + 1) {
      if (proc.exitCode !== null) throw new Error(`netproc-loader exited (${proc.exitCode})`);
      await sleep(200);
    }
    const rss = rssMiB(proc.pid!);
    const steady = seen.slice(START_INTERVALS);
    const perInterval = steady.slice(1).map((x, i) => x.cpuMs - steady[i]!.cpuMs);
    return {
      perInterval: summarize(perInterval),
      meanMs: (steady.at(-1)!.cpuMs - steady[0]!.cpuMs) / (steady.length - 1),
      iterMs: summarize(steady.map((x) => x.iterNs / 1e6)),
      sockets: steady.at(-1)!.sockets,
      rssMiB: rss,
    };
  } finally {
    proc.stdin!.end();
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}
