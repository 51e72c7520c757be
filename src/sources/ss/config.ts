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
  fdCacheMaxAge: key({
    doc: 'The ss source finds the owners of sockets in /proc/PID/fd itself (it runs ss without -p), as procfs does: it reads each fd table whole once, then each cycle only stat()s it: nothing more while its fd count holds, else the links of fd numbers that are new (a table of 128 fds or more) or the whole table (a smaller one); a table is read whole again when it is this old, when a socket turns up that no fd read so far holds, or when the process is a new one under the same PID. Bounds how long a closed fd number reused for a non-socket may leave the socket it held credited to the process (see docs/sources.md). Empty: read every link every cycle.',
    format: 'optional-duration',
    default: '60s',
    env: 'NETPROC_SS_FD_CACHE_MAX_AGE',
    arg: 'ss-fd-cache-max-age',
  }),
};
