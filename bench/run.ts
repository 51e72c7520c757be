// Runs every bench/*.bench.ts in turn (alphabetical), then prints each one's headline figures.
// `npm run bench` builds first: the benches measure the agent in dist/. BENCH_FILTER=text runs
// only the benches whose file name contains it. Exit code 1 only when a bench itself failed.
import { readdirSync } from 'node:fs';
import type { BenchModule, BenchReport } from './support/report.js';

const here = new URL('./', import.meta.url);
const filter = process.env.BENCH_FILTER ?? '';
const files = readdirSync(here)
  .filter((name) => name.endsWith('.bench.ts') && name.includes(filter))
  .sort();

const reports: BenchReport[] = [];
const failures: string[] = [];
for (const file of files) {
  console.log(`\n=== ${file}`);
  try {
    const bench = (await import(new URL(file, here).href)) as BenchModule;
    reports.push(await bench.run());
  } catch (err) {
    failures.push(file);
    console.error(`${file} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }
}

console.log('\n=== summary');
if (files.length === 0) console.log(`no bench/*.bench.ts matches BENCH_FILTER=${JSON.stringify(filter)}`);
for (const report of reports) {
  console.log(report.name);
  for (const line of report.summary) console.log(`  ${line}`);
}
for (const file of failures) console.log(`${file}: FAILED (see above)`);
process.exitCode = failures.length > 0 ? 1 : 0;
