// The only list of sources. Adding a source: one folder under src/sources with a definition.ts,
// and one line here. The order is the default preference order.
import type { ConfigOf } from '../config/keys.js';
import { capabilitiesFor as capabilitiesFrom, type SourceDefinition } from './definition.js';
import { ebpf } from './ebpf/definition.js';
import { nethogs } from './nethogs/definition.js';
import { procfs } from './procfs/definition.js';
import { ss } from './ss/definition.js';

// procfs before ss: both count connections, but procfs sees every network namespace (every pod),
// while ss sees only the agent's own.
export const SOURCES = [ebpf, procfs, ss, nethogs] as const;

type Defined = (typeof SOURCES)[number];

/** Each source's own config fragment, under its name. */
export type SourceFragments = { [D in Defined as D['name']]: D['config'] };
/** Each source's loaded keys, under its name. */
export type SourceSettings = { [D in Defined as D['name']]: ConfigOf<D['config']> };

/** The union of the capabilities the given sources need, sorted; `definitions` defaults to the registry. */
export function capabilitiesFor(sources: readonly string[], definitions: readonly SourceDefinition[] = SOURCES): ReturnType<typeof capabilitiesFrom> {
  return capabilitiesFrom(sources, definitions);
}
