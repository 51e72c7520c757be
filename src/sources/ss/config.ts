// The ss source's own keys, under `ss.`.
import { key } from '../../config/keys.js';
import { fdCacheMaxAgeKey } from '../fd-cache-key.js';

export const config = {
  path: key({
    doc: 'The ss program (iproute2).',
    format: String,
    default: 'ss',
    env: 'NETPROC_SS_PATH',
    arg: 'ss-path',
  }),
  timeout: key({
    doc: 'How long one ss run may take before it counts as failed.',
    format: 'duration',
    default: '10s',
    env: 'NETPROC_SS_TIMEOUT',
    arg: 'ss-timeout',
  }),
  fdCacheMaxAge: fdCacheMaxAgeKey('ss', 'finds the owners of sockets in /proc/PID/fd itself (it runs ss without -p), as procfs does'),
};
