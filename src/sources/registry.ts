// Config name -> source factory. Adding a source: one folder under src/sources and one line here.
// The order is the default preference order.
import type { SourceContext } from './context.js';
import { createEbpfSource } from './ebpf/source.js';
import { createNethogsSource } from './nethogs/source.js';
import { createProcfsSource } from './procfs/source.js';
import { createSsSource } from './ss/source.js';
import type { Source } from './types.js';

// procfs before ss: both count connections, but procfs sees every network namespace (every pod),
// while ss sees only the agent's own.
export const SOURCE_FACTORIES: Readonly<Record<string, (ctx: SourceContext) => Source>> = {
  ebpf: createEbpfSource,
  procfs: createProcfsSource,
  ss: createSsSource,
  nethogs: createNethogsSource,
};

export const SOURCE_NAMES: readonly string[] = Object.keys(SOURCE_FACTORIES);

/**
 * The default `sources`. nethogs is opt-in: it captures packets (CAP_NET_RAW, CAP_NET_ADMIN,
 * hostNetwork) and only adds value where eBPF cannot run.
 */
export const DEFAULT_SOURCES: readonly string[] = SOURCE_NAMES.filter((name) => name !== 'nethogs');

export function createSources(names: readonly string[], ctx: SourceContext): Source[] {
  return names.map((name) => {
    const factory = SOURCE_FACTORIES[name];
    if (!factory) throw new Error(`unknown source ${name}`);
    return factory(ctx);
  });
}
