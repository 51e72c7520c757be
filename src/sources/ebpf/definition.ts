// The ebpf source: exact payload bytes, packets and TCP retransmissions per process, in every netns,
// from precompiled CO-RE programs loaded by netproc-loader (no bpftrace, no LLVM at run time).
import { BPF_LOAD, PID_MAPPING } from '../../host/capabilities.js';
import { defineSource } from '../definition.js';
import { config } from './config.js';

export const ebpf = defineSource({
  name: 'ebpf',
  families: ['bytes', 'packets'],
  // No uid 0. CAP_NET_ADMIN attaches the cgroup_skb programs of the counters variant (without it
  // counters-udp-tp runs); PID_MAPPING names other users' processes by their executable.
  // Families are per source, not per variant: with percall-kprobe (no TCP segments) the TCP
  // packet series stay at 0 (docs/sources.md).
  capabilities: [...BPF_LOAD, 'CAP_NET_ADMIN', ...PID_MAPPING],
  defaultOn: true,
  config,
  create: async (ctx) => (await import('./source.js')).createEbpfSource(ctx),
});
