// Host identity on the resource, never on data points; OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME win.
import { hostname } from 'node:os';
import { detectResources, envDetector, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { AgentConfig } from '../config/schema.js';
import { VERSION } from '../version.js';

export function agentResource(config: AgentConfig): Resource {
  const hostName = config.nodeName || hostname();
  const defaults = resourceFromAttributes({
    'service.name': 'netproc-agent',
    'service.version': VERSION,
    'host.name': hostName,
    // Unique per agent, or two agents' series collide behind the Collector.
    'service.instance.id': config.instanceId || hostName,
    // The runtime the agent runs on (semconv process.runtime.*), shown in target_info.
    'process.runtime.name': 'nodejs',
    'process.runtime.version': process.versions.node,
  });
  return defaults.merge(detectResources({ detectors: [envDetector] }));
}
