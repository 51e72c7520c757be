// `netproc-agent doctor`: for each configured source, whether it can run here, what is missing, and the fix.
import { readPrivileges } from '../host/capabilities.js';
import { hostIO } from '../host/io.js';
import type { AgentConfig } from '../config/schema.js';
import { selectSources } from '../collection/selection.js';
import type { HostIO } from '../host/types.js';
import { createLogger } from '../log.js';
import { createSources } from '../sources/definition.js';
import { SOURCES } from '../sources/registry.js';
import type { ProbeResult } from '../sources/types.js';

export async function doctorCommand(config: AgentConfig, io: HostIO = hostIO): Promise<number> {
  const privileges = await readPrivileges(io, config.procRoot);
  const logger = createLogger('silent');
  const sources = await createSources(config.sources, SOURCES, config, { io, privileges, logger });
  const probes = await Promise.all(sources.map((s) => s.probe()));
  const out: string[] = [`uid ${privileges.uid}, effective capabilities 0x${privileges.effective.toString(16)}`, ''];
  const reprobe = `${config.reprobeInterval / 1000}s`;
  sources.forEach((source, i) => out.push(...describe(source.name, source.families, probes[i]!, reprobe)));
  const usable = new Set(sources.filter((_, i) => probes[i]!.usable).map((s) => s.name));
  const assignment = selectSources(sources, usable);
  out.push('selection:');
  for (const family of ['bytes', 'packets', 'connections'] as const) {
    out.push(`  ${family}: ${assignment.get(family) ?? 'no usable source'}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
  return usable.size > 0 ? 0 : 1;
}

function describe(name: string, families: readonly string[], probe: ProbeResult, reprobe: string): string[] {
  const lines = [`${name}: ${probe.usable ? (probe.warnings.length ? 'usable, degraded' : 'usable') : 'NOT usable'} (measures ${families.join(', ')})`];
  for (const d of probe.details) lines.push(`  ${d}`);
  for (const p of probe.problems) lines.push(`  problem: ${p.what}`, `    fix: ${p.fix}`);
  for (const w of probe.warnings) lines.push(`  warning: ${w.what}`, `    fix: ${w.fix}`);
  if (!probe.usable) lines.push(`  a running agent probes it again after ${reprobe}, with backoff, and uses it once fixed`);
  lines.push('');
  return lines;
}
