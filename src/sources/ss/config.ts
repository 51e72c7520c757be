// The ss source's own keys, under `ss.`.
import { key } from '../../config/keys.js';

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
};
