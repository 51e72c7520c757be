// What each bench/*.bench.ts module exports, and what bench/run.ts collects from it.

export interface BenchReport {
  name: string;
  /** Lines for the closing summary: the headline figures and the goals they are held against. */
  summary: string[];
}

export interface BenchModule {
  /** Runs the bench, printing its own detail as it goes; throws only when the bench itself failed. */
  run(): Promise<BenchReport>;
}
