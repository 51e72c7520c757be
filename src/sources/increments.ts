// Increments of the streaming sources, gathered between two collections.
import type { Increment } from './types.js';

/** Sums two lists of increments per (pid, transport); the later name wins. */
export function mergeIncrements(a: readonly Increment[], b: readonly Increment[]): Increment[] {
  const byId = new Map<string, Increment>();
  for (const inc of [...a, ...b]) {
    const id = `${inc.pid}/${inc.transport}`;
    const seen = byId.get(id);
    if (!seen) {
      byId.set(id, { ...inc });
      continue;
    }
    seen.rxBytes += inc.rxBytes;
    seen.txBytes += inc.txBytes;
    if (inc.rxPackets !== undefined) seen.rxPackets = (seen.rxPackets ?? 0) + inc.rxPackets;
    if (inc.txPackets !== undefined) seen.txPackets = (seen.txPackets ?? 0) + inc.txPackets;
    if (inc.retransSegs !== undefined) seen.retransSegs = (seen.retransSegs ?? 0) + inc.retransSegs;
    if (inc.comm !== undefined) seen.comm = inc.comm;
  }
  return [...byId.values()];
}
