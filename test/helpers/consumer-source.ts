// TypeScript source typed against prom-client 15's declarations, importing from our entry
// instead: every type name prom-client's index.d.ts declares, and the usual calls.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Every top-level name prom-client 15's index.d.ts declares (a .d.ts exports them all). */
export function promClientTypeNames(): string[] {
  const dts = fs.readFileSync(path.join(ROOT, 'node_modules', 'prom-client', 'index.d.ts'), 'utf8');
  const names = new Set<string>();
  for (const match of dts.matchAll(/^(?:export )?(?:declare )?(?:type|interface|class|enum|namespace) ([A-Za-z]+)/gm)) names.add(match[1]);
  return [...names].sort();
}

const VALUES = ['Counter', 'Histogram', 'Pushgateway', 'Registry', 'Summary', 'collectDefaultMetrics', 'linearBuckets', 'register'];

/** Code typed against prom-client's declarations, importing from our entry. */
export function consumerSource(): string {
  return `
import client, { ${VALUES.join(', ')} } from '@prom-multiproc/core/prom-client';
import type { ${promClientTypeNames().filter((n) => !VALUES.includes(n)).join(', ')} } from '@prom-multiproc/core/prom-client';
import { Collector as DirectoryCollector } from '@prom-multiproc/core';

const om: Registry<OpenMetricsContentType> = new Registry(Registry.OPENMETRICS_CONTENT_TYPE);
const text: Registry = new Registry();
const counter = new Counter({ name: 'c_total', help: 'h', labelNames: ['route'] as const, registers: [om, text as Registry<any>] });
counter.inc({ route: '/' }, 2);
const child: Counter.Internal = counter.labels('x');
child.inc();
const histogram = new Histogram({ name: 'h', help: 'h', buckets: linearBuckets(0, 1, 3) });
const timer: Histogram.Internal<string> = histogram.labels({});
timer.observe(1);
new Summary({ name: 's', help: 'h', percentiles: [0.5] }).observe(1);
const metric: Metric<string> | undefined = register.getSingleMetric('h');
const objects: MetricObject[] = register.getMetricsAsArray();
async function json(): Promise<MetricObjectWithValues<MetricValue<string>>[]> {
  const values: MetricObjectWithValues<MetricValueWithName<string>> = await histogram.get();
  return [values, ...(await om.getMetricsAsJSON())];
}
const collector: Collector = () => {};
const collect: CollectFunction<Counter<string>> = function () { this.inc(); };
const increase: IncreaseDataWithExemplar<'route'> = { value: 1, labels: { route: '/' } };
const observation: ObserveDataWithExemplar<string> = { value: 1 };
const labels: LabelValues<'route'> = { route: 1 };
const type: RegistryContentType = client.contentType;
const prom: PrometheusContentType = Registry.PROMETHEUS_CONTENT_TYPE;
const config: DefaultMetricsCollectorConfiguration<RegistryContentType> = { prefix: 'app_' };
collectDefaultMetrics(config);
const gateway = new Pushgateway('http://127.0.0.1:9091', null, om);
const params: Pushgateway.Parameters = { jobName: 'job' };
void gateway.pushAdd(params);
void DirectoryCollector;
export { metric, objects, json, collector, collect, increase, observation, labels, type, prom };
`;
}

