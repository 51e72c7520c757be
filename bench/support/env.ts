// Settings the benches take from the environment (BENCH_*).

/** A whole number above 0 from the variable `name`, or `fallback` when it is unset or empty. */
export function positiveInt(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name}: must be a whole number above 0, got ${JSON.stringify(text)}`);
  return value;
}

/** A comma-separated list of whole numbers above 0 from the variable `name`, or `fallback`. */
export function positiveIntList(name: string, fallback: readonly number[]): number[] {
  const text = process.env[name];
  if (text === undefined || text.trim() === '') return [...fallback];
  const values = text.split(',').map((part) => Number(part.trim()));
  if (!values.every((v) => Number.isInteger(v) && v > 0)) {
    throw new Error(`${name}: must be whole numbers above 0 separated by commas, got ${JSON.stringify(text)}`);
  }
  return values;
}
