// The fdCacheMaxAge key of the sources that find socket owners in /proc/PID/fd themselves (procfs,
// ss): one description of the fd table cache (SocketOwners in src/host/proc/fd-tables.ts) for both.
import { key } from '../config/keys.js';

/** `${source}.fdCacheMaxAge`; `how` says how the source comes to read /proc/PID/fd. */
export function fdCacheMaxAgeKey(source: string, how: string) {
  return key({
    doc: `The ${source} source ${how}: it reads each fd table whole once, then each cycle only stat()s it: nothing more while its fd count holds, else the links of fd numbers that are new (a table of 128 fds or more) or the whole table (a smaller one); a table is read whole again when it is this old, when a socket turns up that no fd read so far holds, or when the process is a new one under the same PID. Bounds how long a closed fd number reused for a non-socket may leave the socket it held credited to the process (see docs/sources.md). Empty: read every link every cycle.`,
    format: 'optional-duration',
    default: '60s',
    env: `NETPROC_${source.toUpperCase()}_FD_CACHE_MAX_AGE`,
    arg: `${source}-fd-cache-max-age`,
  });
}
