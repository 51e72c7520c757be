// What the sources that map sockets to PIDs through /proc/PID/fd share: the privilege check, and
// the fix when procRoot cannot be read.
import { missingCaps, PID_MAPPING, shortCapName, type Privileges } from '../host/capabilities.js';
import type { Problem } from './types.js';

/** Reading another user's /proc/PID/fd needs both: ptrace read access and the directory search bypass. */
export function pidMappingWarnings(privileges: Privileges, source: string): Problem[] {
  const missing = missingCaps(privileges, PID_MAPPING);
  if (missing.length === 0) return [];
  return [
    {
      what: `missing ${missing.join(' and ')}: ${source} cannot see which process owns the sockets of other users' processes; those are counted under [kernel]`,
      fix:
        `grant ${missing.join(', ')} (Kubernetes: runAsUser: 0 with securityContext.capabilities.add: [${missing.map(shortCapName).join(', ')}], ` +
        `hostPID: true and AppArmor Unconfined, since a non-root container user gets no usable capabilities and the runtime's default AppArmor profile denies other processes' fds; ` +
        `systemd: AmbientCapabilities=${missing.join(' ')})`,
    },
  ];
}

/** The fix when procRoot/self cannot be read: the wrong procRoot, or no host /proc in a container. */
export function procRootFix(root: string): string {
  return `check procRoot (now ${root}); in Kubernetes, hostPID: true makes the container's /proc the host's, or mount the host's /proc (hostPath) and set procRoot to where it is mounted`;
}
