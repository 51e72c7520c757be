// The HostIO methods a host written as data in a test does not serve: each fails if called.
import type { HostIO } from '../../src/host/types.js';

const unserved = (what: string) => async (): Promise<never> => {
  throw new Error(`this test's host does not serve ${what}`);
};

export const UNSERVED: Pick<HostIO, 'readLinks' | 'stat' | 'readLines' | 'runLines' | 'spawn'> = {
  readLinks: unserved('readLinks'),
  stat: unserved('stat'),
  readLines: unserved('readLines'),
  runLines: unserved('runLines'),
  spawn: () => {
    throw new Error("this test's host does not serve spawn");
  },
};
