// The ebpf source: exact payload bytes and packets per process through bpftrace, in every netns.
import { BPF_LOAD, PID_MAPPING } from '../../host/capabilities.js';
import { defineSource } from '../definition.js';
import { config } from './config.js';

export const ebpf = defineSource({
  name: 'ebpf',
  families: ['bytes', 'packets'],
  // bpftrace also insists on uid 0; CAP_SYS_ADMIN is not needed on kernels >= 5.8.
  capabilities: [...BPF_LOAD, ...PID_MAPPING],
  defaultOn: true,
  config,
  create: async (ctx) => (await import('./source.js')).createEbpfSource(ctx),
});
