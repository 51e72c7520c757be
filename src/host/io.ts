// The real HostIO: files under /proc, and child processes run with an argument array (never a shell).
import { readFile, readdir, readlink } from 'node:fs/promises';
import { execa } from 'execa';
import type { HostIO } from '../sources/types.js';

/** Cap on a child's output; ss with 100k sockets prints well under this. */
const MAX_CHILD_OUTPUT = 256 * 1024 * 1024;

export const hostIO: HostIO = {
  readFile: (path) => readFile(path, 'utf8'),
  readdir: (path) => readdir(path),
  readlink: (path) => readlink(path),
  async run(file, args, options) {
    const result = await execa(file, args, {
      timeout: options?.timeoutMs ?? 30_000,
      maxBuffer: MAX_CHILD_OUTPUT,
      stripFinalNewline: false,
      env: { LC_ALL: 'C' },
      extendEnv: true,
    });
    return result.stdout;
  },
  now: () => Date.now(),
};

/** True for the errors a process vanishing mid-scan produces; those are normal and silent. */
export function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ESRCH';
}

/** True when the kernel refused access (missing capability or ptrace check). */
export function isDenied(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EACCES' || code === 'EPERM';
}
