// Per-source health as the self-metrics report it: up, last collection duration, errors by kind.

export interface SourceHealth {
  up: boolean;
  lastDurationSeconds: number;
  errors: Map<string, number>;
}

export class HealthBook {
  readonly sources = new Map<string, SourceHealth>();

  constructor(names: readonly string[]) {
    for (const name of names) this.sources.set(name, { up: false, lastDurationSeconds: 0, errors: new Map() });
  }

  get(name: string): SourceHealth {
    const health = this.sources.get(name);
    if (!health) throw new Error(`unknown source ${name}`);
    return health;
  }

  countErrors(name: string, errors: Record<string, number>): void {
    const book = this.get(name).errors;
    for (const [kind, count] of Object.entries(errors)) {
      if (count > 0) book.set(kind, (book.get(kind) ?? 0) + count);
    }
  }
}
