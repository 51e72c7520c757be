// The ebpf source's own keys, under `ebpf.`.
import { key } from '../../config/keys.js';

/** Entries of the loader's per-socket map (`socks`, allocated as sockets appear, ~150 B each). */
export const DEFAULT_MAX_SOCKETS = 262_144;

export const config = {
  variant: key({
    doc: 'auto picks counters (no program per send or receive; needs cgroup v2 and CAP_NET_ADMIN), else counters-udp-tp (UDP per call at the sock_send_length tracepoints, Linux 6.3+), else percall-kprobe (the fallback for kernels without BTF or older than 5.11: TCP and UDP bytes per call by kprobes, no TCP segments or retransmissions; needs kprobes that attach); counters, counters-udp-tp or percall-kprobe forces one. doctor says which runs and why.',
    format: ['auto', 'counters', 'counters-udp-tp', 'percall-kprobe'],
    default: 'auto',
    env: 'NETPROC_EBPF_VARIANT',
    arg: 'ebpf-variant',
  }),
  loader: key({
    doc: 'The engine (netproc-loader, built by npm run build). Empty: the one built next to the agent, dist/sources/ebpf/netproc-loader.',
    format: String,
    default: '',
    env: 'NETPROC_EBPF_LOADER',
    arg: 'ebpf-loader',
  }),
  maxSockets: key({
    doc: 'Sockets the engine tracks at once (its BPF map, allocated as sockets appear, about 150 bytes each). Beyond it increments are lost and counted as overflow errors. From 1024 to 16777216.',
    format: 'map-size',
    default: DEFAULT_MAX_SOCKETS,
    env: 'NETPROC_EBPF_MAX_SOCKETS',
    arg: 'ebpf-max-sockets',
  }),
  cgroup: key({
    doc: 'The cgroup v2 directory whose traffic the counters variant counts for UDP. Empty: the first cgroup2 mount of the host (its root cgroup, so every process).',
    format: String,
    default: '',
    env: 'NETPROC_EBPF_CGROUP',
    arg: 'ebpf-cgroup',
  }),
  startTimeout: key({
    doc: 'How long the engine may take to load and attach before the start counts as failed (it takes 0.2-0.4 s).',
    format: 'duration',
    default: '20s',
    env: 'NETPROC_EBPF_START_TIMEOUT',
    arg: 'ebpf-start-timeout',
  }),
};
