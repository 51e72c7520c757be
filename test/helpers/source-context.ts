// The context a source's factory gets in the agent, for a source made directly in a unit test.
import { pino, type Logger } from 'pino';
import type { AgentConfig } from '../../src/config/schema.js';
import type { Privileges } from '../../src/host/capabilities.js';
import type { HostIO } from '../../src/host/types.js';
import { contextFor, type SourceContext, type SourceDefinition } from '../../src/sources/definition.js';
import { SOURCES, type SourceSettings } from '../../src/sources/registry.js';

export function ctxOf<N extends keyof SourceSettings>(
  name: N,
  host: { config: AgentConfig; io: HostIO; privileges: Privileges; logger?: Logger },
): SourceContext<SourceSettings[N]> {
  const definition: SourceDefinition = SOURCES.find((d) => d.name === name)!;
  return contextFor(definition, host.config, { io: host.io, privileges: host.privileges, logger: host.logger ?? pino({ level: 'silent' }) }) as SourceContext<SourceSettings[N]>;
}
