// Per-transport traffic counters and the arithmetic on them.

export interface Traffic {
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
}

export const zeroTraffic = (): Traffic => ({ rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 });

/** Adds `delta` into `into`, ignoring negative or non-finite parts: totals never go backwards. */
export function addTraffic(into: Traffic, delta: Traffic): void {
  into.rxBytes += positive(delta.rxBytes);
  into.txBytes += positive(delta.txBytes);
  into.rxPackets += positive(delta.rxPackets);
  into.txPackets += positive(delta.txPackets);
}

function positive(n: number): number {
  return Number.isFinite(n) && n > 0 ? n : 0;
}
