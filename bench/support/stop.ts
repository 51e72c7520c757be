// Stopping a child the bench started: SIGTERM (or `signal`), then SIGKILL if it has not gone within a deadline.
import type { ChildProcess } from 'node:child_process';

/** `exited` resolves once the child is gone (its 'exit' or 'close' event, listened for before). */
export async function stopChild(proc: ChildProcess, exited: Promise<void>, timeoutMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill(signal);
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}
