// The 3-minute soak that CI runs (npm run soak runs the same for 30 minutes or more): the agent with
// its default sources under continuous process and connection churn must keep its memory, heap,
// descriptors, children and series flat. "Flat" is stated in harness.ts boundFor(): the growth the
// Theil-Sen slope predicts over the measured window is at most 10% of the median (at least 8 MiB)
// for RSS and heap, 5 descriptors, 1 child, and 10% of --max-processes series.
import { describe, expect, it } from 'vitest';
import { missing } from '../helpers/requirements.js';
import { DEFAULTS, formatTrends, runSoak } from './harness.js';

const MINUTES = Number(process.env.SOAK_CI_MINUTES ?? 3);

describe.skipIf(missing('soak', 'root', 'ss'))(`soak, ${MINUTES} minutes of churn`, () => {
  it('keeps RSS, heap, descriptors, children and series flat, and serves throughout', async () => {
    const result = await runSoak({ ...DEFAULTS, minutes: MINUTES, log: () => undefined });
    process.stdout.write(`${formatTrends(result).join('\n')}\n`);
    // The churn really ran: five short-lived processes a second, nearly all of which sent their bytes.
    expect(result.spawned).toBeGreaterThanOrEqual(MINUTES * 60 * DEFAULTS.processesPerSecond * 0.8);
    expect(result.failed).toBeLessThanOrEqual(result.spawned * 0.01);
    // Every sample answered (a scrape failing would have thrown), and the series stayed under the cap
    // plus the two pseudo-processes ([kernel], [other]).
    expect(result.samples.length).toBeGreaterThanOrEqual((MINUTES * 60) / DEFAULTS.sampleSeconds - 2);
    expect(Math.max(...result.samples.map((s) => s.series))).toBeLessThanOrEqual(DEFAULTS.maxProcesses + 2);
    for (const trend of result.trends) expect(trend.flat, `${trend.resource}: ${formatTrends(result).join('\n')}`).toBe(true);
  }, (MINUTES + 2) * 60_000);
});
