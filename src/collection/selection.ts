// Which source serves which metric family: for each family, the first usable source, in the
// configured order, that measures it.
import { FAMILIES, type Family } from '../semconv.js';
import type { Source } from '../sources/types.js';

export type Assignment = Map<Family, string>;

export function selectSources(ordered: readonly Source[], usable: ReadonlySet<string>): Assignment {
  const assignment: Assignment = new Map();
  for (const family of FAMILIES) {
    const source = ordered.find((s) => usable.has(s.name) && s.families.includes(family));
    if (source) assignment.set(family, source.name);
  }
  return assignment;
}

/** The families each source serves under an assignment. */
export function familiesBySource(assignment: Assignment): Map<string, Set<Family>> {
  const bySource = new Map<string, Set<Family>>();
  for (const [family, source] of assignment) {
    let set = bySource.get(source);
    if (!set) bySource.set(source, (set = new Set()));
    set.add(family);
  }
  return bySource;
}
