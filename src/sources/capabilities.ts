// The Linux capabilities each source needs, in one place: the DaemonSet, the systemd unit and
// `doctor` are checked against this table.
import type { CapName } from '../host/capabilities.js';

/** Reading other users' /proc/PID/fd, to map sockets to PIDs. */
export const PID_MAPPING: readonly CapName[] = ['CAP_SYS_PTRACE', 'CAP_DAC_READ_SEARCH'];
/** A packet socket (NET_RAW), and NET_ADMIN for nethogs's capture setup. */
export const PACKET_CAPTURE: readonly CapName[] = ['CAP_NET_RAW', 'CAP_NET_ADMIN'];
/** Loading BPF programs and opening tracepoints (kernels >= 5.8; CAP_SYS_ADMIN before). */
export const BPF_LOAD: readonly CapName[] = ['CAP_BPF', 'CAP_PERFMON'];

export const SOURCE_CAPABILITIES: Readonly<Record<string, readonly CapName[]>> = {
  ss: PID_MAPPING,
  procfs: PID_MAPPING,
  // bpftrace also insists on uid 0; CAP_SYS_ADMIN is not needed on kernels >= 5.8.
  ebpf: [...BPF_LOAD, ...PID_MAPPING],
  nethogs: [...PACKET_CAPTURE, ...PID_MAPPING],
};

/** The union of the capabilities the given sources need, sorted. */
export function capabilitiesFor(sources: readonly string[]): CapName[] {
  const all = new Set<CapName>();
  for (const source of sources) for (const cap of SOURCE_CAPABILITIES[source] ?? []) all.add(cap);
  return [...all].sort();
}
