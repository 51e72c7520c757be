// The procfs source's own keys, under `procfs.`.
import { fdCacheMaxAgeKey } from '../fd-cache-key.js';

export const config = {
  fdCacheMaxAge: fdCacheMaxAgeKey('procfs', 'maps socket inodes to processes through /proc/PID/fd'),
};
