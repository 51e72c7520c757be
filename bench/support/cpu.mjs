// CPU time of this process and of its reaped children, in milliseconds. Plain JavaScript, so that
// agent-worker.mjs (run by plain node) and the TypeScript bench share it; types in cpu.d.mts.
import { readFileSync } from 'node:fs';

/** USER_HZ: the unit of the times in /proc/PID/stat; 100 on every mainstream Linux ABI. */
export const CLOCK_TICKS_PER_SECOND = 100;
export const CHILD_CPU_RESOLUTION_MS = 1000 / CLOCK_TICKS_PER_SECOND;

// cutime and cstime are fields 16 and 17 of /proc/PID/stat; the fields after the comm, which
// may hold spaces and ')', start at field 3 (state).
const CUTIME_AFTER_COMM = 16 - 3;

export function childCpuMs() {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[CUTIME_AFTER_COMM]) + Number(fields[CUTIME_AFTER_COMM + 1]);
  return ticks * CHILD_CPU_RESOLUTION_MS;
}

export function selfCpuMs() {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}
