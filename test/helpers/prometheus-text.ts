// A small reader of the Prometheus text exposition format, enough to assert on the agent's output.
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    const space = line.lastIndexOf(' ');
    const name = brace >= 0 && brace < space ? line.slice(0, brace) : line.slice(0, space);
    const labels: Record<string, string> = {};
    if (brace >= 0 && brace < space) {
      const body = line.slice(brace + 1, line.lastIndexOf('}'));
      for (const m of body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        // One pass, so an escaped backslash before an n is not read as a newline.
        labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      }
    }
    samples.push({ name, labels, value: Number(line.slice(space + 1)) });
  }
  return samples;
}

/** Samples of `name` whose labels include every pair in `match`. */
export function select(samples: readonly Sample[], name: string, match: Record<string, string | number> = {}): Sample[] {
  return samples.filter(
    (s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === String(v)),
  );
}

export function valueOf(samples: readonly Sample[], name: string, match: Record<string, string | number> = {}): number | undefined {
  const found = select(samples, name, match);
  return found.length === 0 ? undefined : found.reduce((sum, s) => sum + s.value, 0);
}
