// The ebpf source's own keys, under `ebpf.`.
import { key } from '../../config/keys.js';

/**
 * Map size the source asks for (ebpf.mapKeys); bpftrace's own default, 4096, is too small for a
 * host with thousands of live TCP sockets. Every map gets it, preallocated: the socket maps must
 * hold every live TCP socket doing I/O, the two per-CPU accumulators 4 x the (process,
 * transport) pairs active in one interval. Measured on 2 CPUs: 9 MB at 16,384 keys, 38 MB at
 * 65,536; each accumulator entry takes about 112 + 8 x CPUs bytes (26 MB at 16,384 on 64 CPUs).
 * A host with more live TCP sockets shows `untracked` > 0 in the interval lines: raise it.
 */
export const DEFAULT_MAP_KEYS = 16_384;

export const config = {
  bpftrace: key({
    doc: 'The bpftrace program (Debian package bpftrace, 0.17 or later).',
    format: String,
    default: 'bpftrace',
    env: 'NETPROC_EBPF_BPFTRACE',
    arg: 'ebpf-bpftrace',
  }),
  program: key({
    doc: 'auto picks the sock tracepoints (Linux 6.3+) or else the kprobe program; tracepoint or kprobe forces one.',
    format: ['auto', 'tracepoint', 'kprobe'],
    default: 'auto',
    env: 'NETPROC_EBPF_PROGRAM',
    arg: 'ebpf-program',
  }),
  mapKeys: key({
    doc: 'Entries per BPF map, preallocated: must exceed the live TCP sockets doing I/O and 4x the processes active in one interval. Kernel memory grows with it (about 9 MB at 16384, 38 MB at 65536 on 2 CPUs). Overflow is counted as untracked_sockets errors.',
    format: 'count',
    default: DEFAULT_MAP_KEYS,
    env: 'NETPROC_EBPF_MAP_KEYS',
    arg: 'ebpf-map-keys',
  }),
  mountTracefs: key({
    doc: 'Mount tracefs at /sys/kernel/tracing when it is not mounted and the agent may (CAP_SYS_ADMIN).',
    format: Boolean,
    default: true,
    env: 'NETPROC_EBPF_MOUNT_TRACEFS',
    arg: 'ebpf-mount-tracefs',
  }),
  startTimeout: key({
    doc: 'How long bpftrace may take to compile and attach its probes before the start counts as failed.',
    format: 'duration',
    default: '60s',
    env: 'NETPROC_EBPF_START_TIMEOUT',
    arg: 'ebpf-start-timeout',
  }),
};
