// Per-transport traffic counters and the arithmetic on them. Every function goes over
// TRAFFIC_FIELDS, so a new counter is one more name here and in Traffic.

export interface Traffic {
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
}

export const TRAFFIC_FIELDS: ReadonlyArray<keyof Traffic> = ['rxBytes', 'txBytes', 'rxPackets', 'txPackets'];

export const zeroTraffic = (): Traffic => ({ rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 });

/** Adds `delta` into `into`, ignoring negative or non-finite parts: totals never go backwards. */
export function addTraffic(into: Traffic, delta: Traffic): void {
  for (const field of TRAFFIC_FIELDS) into[field] += positive(delta[field]);
}

/** `now - before`, part by part. */
export function subtractTraffic(now: Traffic, before: Traffic): Traffic {
  const out = zeroTraffic();
  for (const field of TRAFFIC_FIELDS) out[field] = now[field] - before[field];
  return out;
}

/** Copies every part of `from` into `into`. */
export function copyTraffic(into: Traffic, from: Traffic): void {
  for (const field of TRAFFIC_FIELDS) into[field] = from[field];
}

function positive(n: number): number {
  return Number.isFinite(n) && n > 0 ? n : 0;
}
