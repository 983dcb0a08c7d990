// The shipped Prometheus rules and Grafana dashboard, read for the tests.
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

export const ROOT = path.join(__dirname, '..', '..');
export const RULES_DIR = path.join(ROOT, 'rules');
export const RULE_TESTS_DIR = path.join(RULES_DIR, 'tests');
export const DASHBOARDS_DIR = path.join(ROOT, 'dashboards');

export interface Rule {
  file: string;
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export function ruleFiles(): string[] {
  return fs.readdirSync(RULES_DIR).filter((f) => f.endsWith('.yml')).sort().map((f) => path.join(RULES_DIR, f));
}

export function ruleTestFiles(): string[] {
  return fs.readdirSync(RULE_TESTS_DIR).filter((f) => f.endsWith('.test.yml')).sort().map((f) => path.join(RULE_TESTS_DIR, f));
}

export function readRules(): Rule[] {
  const rules: Rule[] = [];
  for (const file of ruleFiles()) {
    const doc = parse(fs.readFileSync(file, 'utf8')) as { groups: Array<{ rules: Array<Omit<Rule, 'file'>> }> };
    for (const group of doc.groups) for (const rule of group.rules) rules.push({ file: path.basename(file), ...rule });
  }
  return rules;
}

export interface DashboardTarget {
  panel: string;
  refId: string;
  expr: string;
}

export function dashboardFiles(): string[] {
  return fs.readdirSync(DASHBOARDS_DIR).filter((f) => f.endsWith('.json')).sort().map((f) => path.join(DASHBOARDS_DIR, f));
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Dashboard = any;

export function readDashboard(file: string): Dashboard {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/** Every PromQL expression of a dashboard: panel targets and query variables. */
export function dashboardExpressions(dashboard: Dashboard): DashboardTarget[] {
  const out: DashboardTarget[] = [];
  const walk = (panels: Dashboard[]) => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) out.push({ panel: p.title, refId: t.refId, expr: t.expr });
      walk(p.panels);
    }
  };
  walk(dashboard.panels);
  return out;
}
