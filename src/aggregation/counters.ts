// Per-transport traffic counters and the arithmetic on them. Every function goes over
// TRAFFIC_FIELDS, so a new counter is one more name here and in Traffic.
import type { Transport } from '../semconv.js';

/** What a snapshot source counts per socket. */
export interface SocketCounters {
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
}

/** A process's or a series' totals on one transport. */
export interface Traffic extends SocketCounters {
  /** TCP segments retransmitted (only event sources that read tcp_sock measure them). */
  retransSegs: number;
}

export const TRAFFIC_FIELDS: ReadonlyArray<keyof Traffic> = ['rxBytes', 'txBytes', 'rxPackets', 'txPackets', 'retransSegs'];

export const zeroTraffic = (): Traffic => ({ rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0, retransSegs: 0 });

/**
 * The transports on which some source measured each part of the traffic. Only measured parts
 * are exported: a transport counted by bytes alone has no packet series, rather than zeros.
 */
export class Measured {
  readonly bytes = new Set<Transport>();
  readonly packets = new Set<Transport>();
  readonly retransmits = new Set<Transport>();

  addAll(other: Measured): void {
    for (const t of other.bytes) this.bytes.add(t);
    for (const t of other.packets) this.packets.add(t);
    for (const t of other.retransmits) this.retransmits.add(t);
  }
}

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
