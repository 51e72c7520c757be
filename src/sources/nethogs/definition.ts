// The nethogs source: wire bytes per process from a packet capture, where eBPF cannot run.
import { PACKET_CAPTURE, PID_MAPPING } from '../../host/capabilities.js';
import { defineSource } from '../definition.js';
import { config } from './config.js';

export const nethogs = defineSource({
  name: 'nethogs',
  families: ['bytes'],
  capabilities: [...PACKET_CAPTURE, ...PID_MAPPING],
  // Opt-in: it captures packets (CAP_NET_RAW, CAP_NET_ADMIN, hostNetwork) and only adds value
  // where eBPF cannot run.
  defaultOn: false,
  config,
  create: async (ctx) => (await import('./source.js')).createNethogsSource(ctx),
});
