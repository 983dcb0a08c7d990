// The dashboard JSON has what Grafana's import needs, and no hard-coded data source.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dashboardExpressions, dashboardFiles, readDashboard, ROOT, type Dashboard } from '../helpers/operate-files.js';

/** Every `datasource` object anywhere in the dashboard. */
function datasources(node: Dashboard, out: Dashboard[] = []): Dashboard[] {
  if (Array.isArray(node)) for (const n of node) datasources(n, out);
  else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'datasource' && value && typeof value === 'object') out.push(value);
      datasources(value, out);
    }
  }
  return out;
}

describe.each(dashboardFiles().map((f) => [path.relative(ROOT, f), f]))('%s', (_name, file) => {
  const dashboard = readDashboard(file);

  it('has the top-level fields of an importable dashboard', () => {
    expect(dashboard.id).toBeNull(); // an id would overwrite another dashboard on import
    expect(dashboard.uid).toMatch(/^[A-Za-z0-9_-]{1,40}$/);
    expect(typeof dashboard.title).toBe('string');
    expect(Number.isInteger(dashboard.schemaVersion)).toBe(true);
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36); // datasource objects with uid
    expect(Array.isArray(dashboard.panels)).toBe(true);
    expect(Array.isArray(dashboard.templating?.list)).toBe(true);
    expect(dashboard.time).toEqual({ from: expect.any(String), to: expect.any(String) });
  });

  it('takes its data source from a variable, never a hard-coded uid', () => {
    const variable = dashboard.templating.list.find((v: Dashboard) => v.type === 'datasource');
    expect(variable, 'a datasource variable').toBeDefined();
    expect(variable.query).toBe('prometheus');
    const all = datasources(dashboard);
    expect(all.length).toBeGreaterThan(0);
    for (const ds of all) {
      expect(ds.type).toBe('prometheus');
      expect(ds.uid).toBe(`\${${variable.name}}`);
    }
    expect(dashboard.__inputs ?? []).toEqual([]); // nothing for the importer to map
  });

  it('panels have unique ids, a type, a grid position inside 24 columns, and queries with unique refIds', () => {
    const ids = new Set<number>();
    const walk = (panels: Dashboard[]) => {
      for (const p of panels) {
        expect(Number.isInteger(p.id), `${p.title}: id`).toBe(true);
        expect(ids.has(p.id), `${p.title}: id ${p.id} is unique`).toBe(false);
        ids.add(p.id);
        expect(typeof p.type).toBe('string');
        const { x, y, w, h } = p.gridPos ?? {};
        for (const n of [x, y, w, h]) expect(Number.isInteger(n), `${p.title}: gridPos`).toBe(true);
        expect(x + w, `${p.title}: fits in 24 columns`).toBeLessThanOrEqual(24);
        if (p.type === 'row') {
          walk(p.panels ?? []);
          continue;
        }
        expect(p.datasource, `${p.title}: datasource`).toBeDefined();
        expect(p.targets?.length, `${p.title}: queries`).toBeGreaterThan(0);
        const refIds = p.targets.map((t: Dashboard) => t.refId);
        expect(new Set(refIds).size, `${p.title}: refIds`).toBe(refIds.length);
        for (const t of p.targets) expect(typeof t.expr).toBe('string');
      }
    };
    walk(dashboard.panels);
    expect(ids.size).toBeGreaterThan(10);
  });

  it('every variable a query uses is defined (or a Grafana built-in)', () => {
    const defined = new Set(dashboard.templating.list.map((v: Dashboard) => v.name));
    const builtIn = new Set(['__rate_interval', '__interval', '__range']);
    const texts = [
      ...dashboardExpressions(dashboard).map((t) => t.expr),
      ...dashboard.templating.list.map((v: Dashboard) => (typeof v.query === 'string' ? v.query : v.query?.query ?? '')),
    ];
    for (const text of texts) {
      for (const m of text.matchAll(/\$\{?(\w+)/g)) {
        expect(defined.has(m[1]) || builtIn.has(m[1]), `variable $${m[1]} in ${text}`).toBe(true);
      }
    }
  });

  it('covers requests, the default metrics and the collector', () => {
    const exprs = dashboardExpressions(dashboard).map((t) => t.expr).join('\n');
    for (const name of [
      'http_requests:rate5m', 'http_request_errors:rate5m', 'http_request_duration_seconds_bucket:rate5m',
      'process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag', 'nodejs_gc_duration_seconds',
      'prom_multiproc_scrape_duration_seconds', 'prom_multiproc_files_read', 'prom_multiproc_files_skipped_total',
      'prom_multiproc_compactions_total', 'prom_multiproc_processes_folded_total', 'prom_multiproc_compactor',
      'prom_multiproc_directory_errors_total',
    ]) expect(exprs).toContain(name);
  });
});
