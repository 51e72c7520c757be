// The Grafana dashboard's panels and their PromQL, with Grafana's template variables substituted the
// way a test wants to evaluate them against a real Prometheus.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './processes.js';

export const DASHBOARD_FILE = join(REPO, 'deploy/grafana/network-traffic-analysis.json');

export interface DashboardTarget {
  expr: string;
  refId: string;
  legendFormat?: string;
  instant?: boolean;
  format?: string;
}

export interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  description?: string;
  targets?: DashboardTarget[];
  fieldConfig?: { defaults?: { unit?: string } };
}

export interface Dashboard {
  uid: string;
  title: string;
  panels: DashboardPanel[];
  templating: { list: Array<{ name: string; type: string; definition?: string; allValue?: string; includeAll?: boolean; multi?: boolean }> };
}

export function loadDashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;
}

/** Every panel that queries (rows excluded), with its targets. */
export function queryPanels(dashboard: Dashboard): Array<DashboardPanel & { targets: DashboardTarget[] }> {
  return dashboard.panels.filter((p): p is DashboardPanel & { targets: DashboardTarget[] } => p.type !== 'row' && (p.targets?.length ?? 0) > 0);
}

/**
 * Replaces `$name` and `${name}` by the given values, longest names first so that `$__rate_interval`
 * is not taken for `$__range`. Throws if a variable is left over.
 */
export function substitute(expr: string, values: Readonly<Record<string, string>>): string {
  let out = expr;
  for (const name of Object.keys(values).sort((a, b) => b.length - a.length)) {
    out = out.replaceAll(`\${${name}}`, values[name]!).replaceAll(`$${name}`, values[name]!);
  }
  const left = /\$\{?\w+/.exec(out);
  if (left) throw new Error(`unsubstituted ${left[0]} in ${expr}`);
  return out;
}
