// npm run soak: the agent with its default sources under continuous process and connection churn
// for SOAK_MINUTES (default 30), sampled every SOAK_SAMPLE_SECONDS (default 5); prints every sample,
// then each resource's slope and whether it is flat (test/soak/harness.ts). Exit code 1 when not.
// Needs root (the default sources) and a built agent (npm run build).
import { DEFAULTS, formatTrends, runSoak } from '../test/soak/harness.js';

const minutes = Number(process.env.SOAK_MINUTES ?? 30);
const sampleSeconds = Number(process.env.SOAK_SAMPLE_SECONDS ?? DEFAULTS.sampleSeconds);
const result = await runSoak({ ...DEFAULTS, minutes, sampleSeconds, log: (line) => console.log(line) });
console.log(`\nsoak: ${minutes} minutes, default sources, ${DEFAULTS.processesPerSecond} short-lived processes/s of ${DEFAULTS.bytesPerProcess} bytes, 20 connections replaced every 50 ms`);
for (const line of formatTrends(result)) console.log(line);
process.exitCode = result.trends.every((t) => t.flat) ? 0 : 1;
