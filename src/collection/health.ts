// Per-source health as the self-metrics report it: up, last collection duration, errors by kind.

export interface SourceHealth {
  up: boolean;
  lastDurationSeconds: number;
  errors: Map<string, number>;
}

export class HealthBook {
  readonly sources = new Map<string, SourceHealth>();

  constructor(names: readonly string[]) {
    // `collect` exists from the start, so rate() and alerts see the series before the first failure.
    for (const name of names) this.sources.set(name, { up: false, lastDurationSeconds: 0, errors: new Map([['collect', 0]]) });
  }

  get(name: string): SourceHealth {
    const health = this.sources.get(name);
    if (!health) throw new Error(`unknown source ${name}`);
    return health;
  }

  countErrors(name: string, errors: Record<string, number>): void {
    const book = this.get(name).errors;
    // A kind reported with 0 still creates its series.
    for (const [kind, count] of Object.entries(errors)) book.set(kind, (book.get(kind) ?? 0) + Math.max(0, count));
  }
}
