// Linux capabilities of this process, read from /proc/self/status (CapEff).
import { parseCapEff, parseCapSet } from './proc/parse.js';
import type { HostIO } from './types.js';

/** Bit numbers from include/uapi/linux/capability.h. */
export const CAP = {
  CAP_DAC_OVERRIDE: 1,
  CAP_DAC_READ_SEARCH: 2,
  CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13,
  CAP_SYS_PTRACE: 19,
  CAP_SYS_ADMIN: 21,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
} as const;
export type CapName = keyof typeof CAP;

export interface Privileges {
  uid: number;
  effective: bigint;
  /** The ambient set: what a child of a non-root agent keeps across execve. Absent: none. */
  ambient?: bigint;
}

export async function readPrivileges(io: HostIO, procRoot = '/proc'): Promise<Privileges> {
  const status = await io.readFile(`${procRoot}/self/status`).catch(() => '');
  return { uid: process.getuid?.() ?? -1, effective: parseCapEff(status) ?? 0n, ambient: parseCapSet(status, 'CapAmb') ?? 0n };
}

/** `CAP_NET_RAW` -> `NET_RAW`, as Kubernetes and setpriv name them. */
export function shortCapName(cap: CapName): string {
  return cap.replace(/^CAP_/, '');
}

export function hasCap(privileges: Privileges, cap: CapName): boolean {
  return (privileges.effective & (1n << BigInt(CAP[cap]))) !== 0n;
}

export function missingCaps(privileges: Privileges, caps: readonly CapName[]): CapName[] {
  return caps.filter((cap) => !hasCap(privileges, cap));
}

/** Reading other users' /proc/PID/fd, to map sockets to PIDs. */
export const PID_MAPPING: readonly CapName[] = ['CAP_SYS_PTRACE', 'CAP_DAC_READ_SEARCH'];
/** A packet socket (NET_RAW), and NET_ADMIN for nethogs's capture setup. */
export const PACKET_CAPTURE: readonly CapName[] = ['CAP_NET_RAW', 'CAP_NET_ADMIN'];
/** Loading BPF programs and opening tracepoints (kernels >= 5.8; CAP_SYS_ADMIN before). */
export const BPF_LOAD: readonly CapName[] = ['CAP_BPF', 'CAP_PERFMON'];

/**
 * The capabilities a child program will hold. A child of uid 0 gets back its bounding set at
 * exec; a child of any other uid keeps only the ambient set (capabilities(7), "Transformation of
 * capabilities during execve()"), unless its binary carries file capabilities.
 */
export function inheritedCaps(privileges: Privileges): { caps: Set<CapName>; why: string } {
  const effective = new Set((Object.keys(CAP) as CapName[]).filter((cap) => hasCap(privileges, cap)));
  if (privileges.uid === 0) return { caps: effective, why: 'the agent runs as uid 0 without them' };
  const ambient = privileges.ambient ?? 0n;
  const caps = new Set([...effective].filter((cap) => (ambient & (1n << BigInt(CAP[cap]))) !== 0n));
  return { caps, why: `the agent runs as uid ${privileges.uid}, and a child of a non-root process keeps only the ambient capabilities` };
}
