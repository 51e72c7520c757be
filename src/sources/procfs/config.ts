// The procfs source's own keys, under `procfs.`.
import { key } from '../../config/keys.js';

export const config = {
  fdCacheMaxAge: key({
    doc: 'The procfs source reads each fd table whole once, then each cycle only stat()s it: nothing more while its fd count holds, else the links of fd numbers that are new (a table of 128 fds or more) or the whole table (a smaller one); a table is read whole again when it is this old, when a socket turns up that no fd read so far holds, or when the process is a new one under the same PID. Bounds how long a closed fd number reused for a non-socket may leave the socket it held credited to the process (see docs/sources.md). Empty: read every link every cycle.',
    format: 'optional-duration',
    default: '60s',
    env: 'NETPROC_PROCFS_FD_CACHE_MAX_AGE',
    arg: 'procfs-fd-cache-max-age',
  }),
};
