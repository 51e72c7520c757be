// What a source is to the rest of the agent before it runs: one definition per source folder,
// listed in registry.ts. The config schema, `doctor`, the capability checks of the deploy files
// and docs/configuration.md are all derived from these.
import type { Logger } from 'pino';
import type { ConfigOf, Fragment } from '../config/keys.js';
import type { CapName, Privileges } from '../host/capabilities.js';
import type { HostIO } from '../host/types.js';
import type { Family } from '../semconv.js';
import type { Source, SourceBehaviour } from './types.js';

/** The agent-wide keys a source may read besides its own. */
export interface AgentSettings {
  procRoot: string;
  /** The collection interval. */
  intervalMs: number;
}

/** What a source factory receives: its own keys, loaded (durations in ms), and the host. */
export interface SourceContext<S = unknown> {
  settings: S;
  agent: AgentSettings;
  io: HostIO;
  privileges: Privileges;
  logger: Logger;
}

export interface SourceDefinition<N extends string = string, C extends Fragment = Fragment> {
  /** The name in `sources`, in the config section of its own keys and in the self-metrics. */
  name: N;
  /** The metric families it measures. */
  families: readonly Family[];
  /** The Linux capabilities it needs to see everything it can. */
  capabilities: readonly CapName[];
  /** Whether it is in the default `sources`. */
  defaultOn: boolean;
  /** Its own keys (a convict schema fragment), under `<name>.` in the configuration. */
  config: C;
  /**
   * Makes the source. Loaded on demand, so that the config schema, which reads the definitions,
   * never loads a source's implementation.
   */
  create(ctx: SourceContext<ConfigOf<C>>): Promise<SourceBehaviour>;
}

/** Declares a definition, keeping its name and keys as literal types. */
export function defineSource<const N extends string, const C extends Fragment>(definition: SourceDefinition<N, C>): SourceDefinition<N, C> {
  return definition;
}

/** The loaded configuration as far as a source's context needs it. */
export interface LoadedConfig {
  procRoot: string;
  interval: number;
}

/** The context of `definition` under a loaded configuration. */
export function contextFor<C extends Fragment>(
  definition: SourceDefinition<string, C>,
  config: LoadedConfig,
  host: { io: HostIO; privileges: Privileges; logger: Logger },
): SourceContext<ConfigOf<C>> {
  const settings = (config as unknown as Record<string, unknown>)[definition.name] ?? {};
  return { settings: settings as ConfigOf<C>, agent: { procRoot: config.procRoot, intervalMs: config.interval }, ...host };
}

/** Makes the sources named, in that order, from the definitions given. */
export async function createSources(
  names: readonly string[],
  definitions: readonly SourceDefinition[],
  config: LoadedConfig,
  host: { io: HostIO; privileges: Privileges; logger: Logger },
): Promise<Source[]> {
  return Promise.all(
    names.map(async (name) => {
      const definition = definitions.find((d) => d.name === name);
      if (!definition) throw new Error(`unknown source ${name}`);
      const behaviour = await definition.create(contextFor(definition, config, host));
      return { ...behaviour, name: definition.name, families: definition.families };
    }),
  );
}

/** The union of the capabilities the given sources need, sorted. */
export function capabilitiesFor(sources: readonly string[], definitions: readonly SourceDefinition[]): CapName[] {
  const all = new Set<CapName>();
  for (const name of sources) for (const cap of definitions.find((d) => d.name === name)?.capabilities ?? []) all.add(cap);
  return [...all].sort();
}
