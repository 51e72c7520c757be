// The agent's modules as built (dist/, what `npm run build` ships), typed from their sources in
// src/: dist/ carries no declarations.
import type * as SsSourceModule from '../../src/sources/ss/source.js';

const DIST = new URL('../../dist/', import.meta.url);

async function fromDist<T>(path: string): Promise<T> {
  const specifier = new URL(path, DIST).href;
  return (await import(specifier)) as T;
}

export const ssSourceModule = (): Promise<typeof SsSourceModule> => fromDist('sources/ss/source.js');
