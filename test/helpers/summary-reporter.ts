// Prints the plain closing line CI reads, `N passed, N failed, N skipped`, after vitest's own summary.
import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onInit(): void {
    // The runtime every test and every agent it starts runs on (they use process.execPath).
    process.stdout.write(`tests run on Node.js ${process.version} (${process.execPath})\n`);
  }

  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const mod of testModules) {
      const tests = [...mod.children.allTests()];
      for (const test of tests) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else skipped++;
      }
      // A file that failed before defining any test (e.g. a requirement missing under CI) counts as a failure.
      if (tests.length === 0 && mod.state() === 'failed') failed++;
    }
    // After the default reporter's summary (reporters run in order). Vitest 5 has no onFinished.
    process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
