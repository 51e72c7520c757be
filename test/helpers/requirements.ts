// Under CI=true a missing tool or privilege fails the file; elsewhere the file is skipped, loudly.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export type Need = 'root' | 'ss' | 'promtool' | 'prometheus' | 'setpriv' | 'ip' | 'bpftrace' | 'tracefs' | 'nethogs' | 'tmux' | 'kubectl' | 'systemd-analyze' | 'cgroup-v1-pids';

function has(need: Need): boolean {
  if (need === 'root') return process.getuid?.() === 0;
  if (need === 'cgroup-v1-pids') return existsSync('/sys/fs/cgroup/pids/cgroup.procs');
  if (need === 'tracefs') return existsSync('/sys/kernel/tracing/events') || existsSync('/sys/kernel/debug/tracing/events');
  try {
    execFileSync('sh', ['-c', `command -v ${need}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Returns true when the file must be skipped; throws under CI when something is missing. */
export function missing(file: string, ...needs: Need[]): boolean {
  const absent = needs.filter((n) => !has(n));
  if (absent.length === 0) return false;
  const message = `${file}: missing ${absent.join(', ')} (npm test installs them when run as root: scripts/prepare-host.sh)`;
  if (process.env.CI === 'true') throw new Error(`CI=true and ${message}`);
  process.stderr.write(`\n!!!!!!!! SKIPPED ${message} !!!!!!!!\n\n`);
  return true;
}
