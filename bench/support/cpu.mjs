// CPU time of this process and of its reaped children, in milliseconds. Plain JavaScript, so that
// agent-worker.mjs (run by plain node) and the TypeScript bench share it; types in cpu.d.mts.
import { readdirSync, readFileSync } from 'node:fs';

/** USER_HZ: the unit of the times in /proc/PID/stat; 100 on every mainstream Linux ABI. */
const CLOCK_TICKS_PER_SECOND = 100;
export const CHILD_CPU_RESOLUTION_MS = 1000 / CLOCK_TICKS_PER_SECOND;

// Fields of /proc/PID/stat, counted from those after the comm (which may hold spaces and ')'):
// they start at field 3 (state). utime and stime are fields 14 and 15, cutime and cstime 16 and 17.
const UTIME_AFTER_COMM = 14 - 3;
const CUTIME_AFTER_COMM = 16 - 3;

/** The sum of two adjacent tick fields of a stat line, from `index` on, in ms. */
function ticksMs(stat, index) {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[index]) + Number(fields[index + 1])) * CHILD_CPU_RESOLUTION_MS;
}

export function childCpuMs() {
  return ticksMs(readFileSync('/proc/self/stat', 'utf8'), CUTIME_AFTER_COMM);
}

/** /proc/PID/stat, or undefined once the process is gone. */
function statOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
}

export function processCpuMs(pid) {
  const stat = statOf(pid);
  return stat === undefined ? 0 : ticksMs(stat, UTIME_AFTER_COMM);
}

/** The text of /proc/PID/task/TID/`name` for each thread of `pid` that could be read; none once it is gone. */
function taskFiles(pid, name) {
  let tasks;
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const texts = [];
  for (const tid of tasks) {
    try {
      texts.push(readFileSync(`/proc/${pid}/task/${tid}/${name}`, 'utf8'));
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return texts;
}

/**
 * CPU of every thread of `pid` so far, in ms, to the nanosecond: the first field of each task's
 * schedstat (time on a CPU, ns). 0 once the process is gone.
 */
export function processCpuMsPrecise(pid) {
  let ns = 0;
  for (const schedstat of taskFiles(pid, 'schedstat')) ns += Number(schedstat.split(' ', 1)[0]);
  return ns / 1e6;
}

export function processWithChildrenCpuMs(pid) {
  const stat = statOf(pid);
  return stat === undefined ? 0 : ticksMs(stat, UTIME_AFTER_COMM) + ticksMs(stat, CUTIME_AFTER_COMM);
}

export function selfCpuMs() {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/**
 * The CPU so far of the live children of `pid` and of the children they reaped (a launcher shell
 * and the ss runs it has waited for, the ebpf loader), in ms, to one tick each.
 */
export function liveChildrenCpuMs(pid) {
  let total = 0;
  for (const children of taskFiles(pid, 'children')) {
    for (const child of children.trim().split(' ')) if (child !== '') total += processWithChildrenCpuMs(Number(child));
  }
  return total;
}
