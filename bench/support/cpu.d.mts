/** USER_HZ: the unit of the times in /proc/PID/stat; 100 on every mainstream Linux ABI. */
export declare const CLOCK_TICKS_PER_SECOND: number;
/** The resolution of childCpuMs(): one clock tick. */
export declare const CHILD_CPU_RESOLUTION_MS: number;
/**
 * User + system CPU of the children this process has waited for (RUSAGE_CHILDREN, which Node
 * does not expose). The kernel keeps nanoseconds but /proc prints whole clock ticks, truncated,
 * so the difference of two readings is within one tick (10 ms) of the truth.
 */
export declare function childCpuMs(): number;
/** User + system CPU of this process, every thread included (libuv pool, GC), to the microsecond. */
export declare function selfCpuMs(): number;
