// Shared pieces of the tests that run the real nethogs on a veth device: the device's own counters
// (what nethogs should count), a paced transfer across the device, and the nethogs child of an agent.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Child } from './processes.js';

/** Per packet on a veth: 14 Ethernet + 20 IPv4 + 32 TCP with the timestamps option. */
export const HEADERS_PER_PACKET = 14 + 20 + 32;

export interface DeviceCounters {
  txBytes: number;
  txPackets: number;
  rxBytes: number;
  rxPackets: number;
}

/** /sys/class/net/DEVICE/statistics, as they stand. */
export function deviceCounters(device: string): DeviceCounters {
  const read = (name: string): number => Number(readFileSync(`/sys/class/net/${device}/statistics/${name}`, 'utf8'));
  return { txBytes: read('tx_bytes'), txPackets: read('tx_packets'), rxBytes: read('rx_bytes'), rxPackets: read('rx_packets') };
}

export function counterDiff(after: DeviceCounters, before: DeviceCounters): DeviceCounters {
  return {
    txBytes: after.txBytes - before.txBytes,
    txPackets: after.txPackets - before.txPackets,
    rxBytes: after.rxBytes - before.rxBytes,
    rxPackets: after.rxPackets - before.rxPackets,
  };
}

/**
 * A transfer of `payload` bytes from the sender `startSender` makes to `sink`; resolves once the
 * sink has it all, with what the device counted meanwhile (nothing else uses the device).
 */
export async function pacedTransfer(
  device: string,
  sink: Child,
  payload: number,
  startSender: (port: number) => Child,
): Promise<{ sender: Child; wire: DeviceCounters }> {
  const { port } = await sink.next('port');
  const before = deviceCounters(device);
  const sender = startSender(port);
  await sender.next('sent', 60_000);
  for (;;) {
    sink.proc.kill('SIGUSR2');
    if ((await sink.next('received')).received >= payload) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 300)); // the last ACKs
  return { sender, wire: counterDiff(deviceCounters(device), before) };
}

/** The nethogs process an agent runs (setpriv, and a stand-in that execs it, keep its PID): its direct child. */
export function nethogsChild(agentPid: number): number | undefined {
  const result = spawnSync('pgrep', ['-P', String(agentPid), '-x', 'nethogs'], { encoding: 'utf8' });
  const out = result.stdout.trim();
  return out === '' ? undefined : Number(out.split('\n')[0]);
}
