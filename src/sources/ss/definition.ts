// The ss source: TCP bytes and segments from tcp_info, TCP/UDP connections, in the agent's netns.
import { PID_MAPPING } from '../../host/capabilities.js';
import { defineSource } from '../definition.js';
import { config } from './config.js';

export const ss = defineSource({
  name: 'ss',
  families: ['bytes', 'packets', 'connections'],
  capabilities: PID_MAPPING,
  defaultOn: true,
  config,
  create: async (ctx) => (await import('./source.js')).createSsSource(ctx),
});
