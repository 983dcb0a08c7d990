// The shipped Prometheus rules: promtool accepts every file, and promtool's unit tests
// show each alert firing when it should and silent when it should not.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { readRules, ruleFiles, ruleTestFiles, ROOT } from '../helpers/operate-files.js';

function promtool(args: string[]): { code: number; output: string } {
  try {
    return { code: 0, output: execFileSync('promtool', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    return { code: e.status, output: `${e.stdout}${e.stderr}` };
  }
}

describe('rules/', () => {
  it.each(ruleFiles().map((f) => [path.relative(ROOT, f), f]))('promtool check rules %s', (_name, file) => {
    const { code, output } = promtool(['check', 'rules', file]);
    expect(output).toMatch(/SUCCESS: \d+ rules found/);
    expect(code, output).toBe(0);
  });

  it('promtool test rules: every unit test passes', () => {
    const { code, output } = promtool(['test', 'rules', ...ruleTestFiles()]);
    expect(code, output).toBe(0);
    expect(output).not.toMatch(/FAILED/);
  });

  it('every alert has a summary, a runbook section in docs/alerts.md, and unit tests where it fires and where it stays silent', () => {
    const alerts = readRules().filter((r) => r.alert);
    expect(alerts.length).toBeGreaterThanOrEqual(7);
    const runbooks = fs.readFileSync(path.join(ROOT, 'docs', 'alerts.md'), 'utf8');
    const fires = new Set<string>();
    const silent = new Set<string>();
    for (const file of ruleTestFiles()) {
      const doc = parse(fs.readFileSync(file, 'utf8')) as { tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }> }> };
      for (const t of doc.tests) {
        for (const check of t.alert_rule_test ?? []) (check.exp_alerts?.length ? fires : silent).add(check.alertname);
      }
    }
    for (const alert of alerts) {
      expect(alert.annotations?.summary, alert.alert).toBeTruthy();
      const anchor = alert.alert!.toLowerCase();
      expect(alert.annotations?.runbook, alert.alert).toBe(`docs/alerts.md#${anchor}`);
      expect(runbooks, `docs/alerts.md has a section ## ${alert.alert}`).toContain(`## ${alert.alert}\n`);
      expect(fires.has(alert.alert!), `${alert.alert} has a unit test where it fires`).toBe(true);
      expect(silent.has(alert.alert!), `${alert.alert} has a unit test where it stays silent`).toBe(true);
    }
  });
});
