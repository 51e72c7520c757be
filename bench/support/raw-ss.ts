// Runs ss itself, with an argument array and LC_ALL=C as the ss source does, reading its output
// through a pipe to the end, so that its cost is the reference the source is held against.
import { spawn } from 'node:child_process';

/**
 * Resolves once ss has exited and been reaped, with its output when `keep` (else ''); rejects on
 * a non-zero exit. 'close' comes after Node collected the exit status (waitpid), so by then the
 * child's CPU is in this process's RUSAGE_CHILDREN.
 */
export function runSs(path: string, args: readonly string[], keep = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(path, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    const chunks: Buffer[] = [];
    let stderr = '';
    if (keep) child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    else child.stdout.resume();
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolve(Buffer.concat(chunks).toString('utf8'));
      else reject(new Error(`${path} ${args.join(' ')} exited ${signal ?? code}: ${stderr.trim()}`));
    });
  });
}

/** Lines of output, as `ss ... | wc -l` counts them. */
export async function countLines(path: string, args: readonly string[]): Promise<number> {
  const text = await runSs(path, args, true);
  return text.split('\n').filter((line) => line.trim() !== '').length;
}
