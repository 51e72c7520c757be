// Under CI=true a missing tool or privilege fails the file; elsewhere the file is skipped, loudly.
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Need = 'root' | 'ss' | 'promtool' | 'prometheus' | 'setpriv' | 'ip' | 'netproc-loader' | 'cgroup2' | 'nft' | 'python3' | 'nethogs' | 'tmux' | 'kubectl' | 'systemd-analyze' | 'cgroup-v1-pids' | 'kustomize-v5' | 'curl' | 'openssl';

/**
 * What `npm test` provides when run as root (scripts/prepare-host.sh, then the build): Debian
 * packages, the ebpf engine built with them, and a cgroup v2 mount.
 */
const PREPARED: ReadonlySet<Need> = new Set(['ss', 'promtool', 'prometheus', 'setpriv', 'ip', 'netproc-loader', 'cgroup2', 'nft', 'python3', 'nethogs', 'tmux', 'curl', 'openssl']);

/** The engine npm run build makes (scripts/build-engine.mjs). */
export const LOADER = fileURLToPath(new URL('../../dist/sources/ebpf/netproc-loader', import.meta.url));

function has(need: Need): boolean {
  if (need === 'root') return process.getuid?.() === 0;
  if (need === 'cgroup-v1-pids') return existsSync('/sys/fs/cgroup/pids/cgroup.procs');
  if (need === 'netproc-loader') return existsSync(LOADER);
  if (need === 'cgroup2') return /\scgroup2\s/.test(readFileSync('/proc/self/mounts', 'utf8'));
  if (need === 'kustomize-v5') return hasKustomizeV5();
  return onPath(need);
}

/** kubectl with kustomize v5 built in (Debian's kubernetes-client 1.20 has none). */
function hasKustomizeV5(): boolean {
  try {
    return /Kustomize Version: v5/.test(execFileSync('kubectl', ['version', '--client'], { encoding: 'utf8', timeout: 60_000 }));
  } catch {
    return false;
  }
}

/** Whether an executable file named `tool` is in a directory of PATH, as `command -v` finds it. */
export function onPath(tool: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => {
    if (dir === '') return false;
    try {
      const path = join(dir, tool);
      accessSync(path, constants.X_OK);
      return statSync(path).isFile();
    } catch {
      return false;
    }
  });
}

/** Returns true when the file must be skipped; throws under CI when something is missing. */
export function missing(file: string, ...needs: Need[]): boolean {
  const absent = needs.filter((n) => !has(n));
  if (absent.length === 0) return false;
  const provided = absent.filter((n) => PREPARED.has(n));
  const others = absent.filter((n) => !PREPARED.has(n));
  const hints = [
    provided.length > 0 ? `npm test provides ${provided.join(', ')} when run as root (scripts/prepare-host.sh)` : '',
    others.length > 0 ? `npm test does not provide ${others.join(', ')}` : '',
  ];
  const message = `${file}: missing ${absent.join(', ')} (${hints.filter(Boolean).join('; ')})`;
  if (process.env.CI === 'true') throw new Error(`CI=true and ${message}`);
  process.stderr.write(`\n!!!!!!!! SKIPPED ${message} !!!!!!!!\n\n`);
  return true;
}
