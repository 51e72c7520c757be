// What every source factory receives.
import type { AgentConfig } from '../config/schema.js';
import type { Privileges } from '../host/capabilities.js';
import type { HostIO } from './types.js';

export interface SourceContext {
  config: AgentConfig;
  io: HostIO;
  privileges: Privileges;
}
