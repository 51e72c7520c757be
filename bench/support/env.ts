// Settings the benches take from the environment (BENCH_*).

/** A whole number above 0 from the variable `name`, or `fallback` when it is unset or empty. */
export function positiveInt(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name}: must be a whole number above 0, got ${JSON.stringify(text)}`);
  return value;
}
