// The procfs source: TCP/UDP connections by state from /proc/PID/net, in every netns.
import { PID_MAPPING } from '../../host/capabilities.js';
import { defineSource } from '../definition.js';
import { config } from './config.js';

export const procfs = defineSource({
  name: 'procfs',
  families: ['connections'],
  capabilities: PID_MAPPING,
  defaultOn: true,
  config,
  create: async (ctx) => (await import('./source.js')).createProcfsSource(ctx),
});
