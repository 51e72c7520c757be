/** The resolution of childCpuMs(): one clock tick. */
export declare const CHILD_CPU_RESOLUTION_MS: number;
/**
 * User + system CPU of the children this process has waited for (RUSAGE_CHILDREN, which Node
 * does not expose). The kernel keeps nanoseconds but /proc prints whole clock ticks, truncated,
 * so the difference of two readings is within one tick (10 ms) of the truth.
 */
export declare function childCpuMs(): number;
/** User + system CPU of process `pid` so far, in ms, to one clock tick (10 ms); 0 once it is gone. */
export declare function processCpuMs(pid: number): number;
/** CPU of every thread of `pid` so far, in ms, to the nanosecond (schedstat); 0 once it is gone. */
export declare function processCpuMsPrecise(pid: number): number;
/** processCpuMs(pid) plus the CPU of the children it has reaped (cutime + cstime), in ms, to one tick each. */
export declare function processWithChildrenCpuMs(pid: number): number;
/** User + system CPU of this process, every thread included (libuv pool, GC), to the microsecond. */
export declare function selfCpuMs(): number;
/**
 * CPU of the live children of `pid` and of the children they reaped (a launcher shell and its ss
 * runs, the ebpf loader), in ms, to one tick each.
 */
export declare function liveChildrenCpuMs(pid: number): number;
