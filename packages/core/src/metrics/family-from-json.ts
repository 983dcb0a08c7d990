// A metric object in prom-client's `get()` shape (a foreign metric, a custom collector, an
// aggregated result) as an exposition family, for the collector's Python rendering.
import { sortedPairs, type Family, type Sample } from '../collect/exposition.js';
import { floatToGoString } from '../format/number.js';
import type { RenderableMetric } from './prom-client-text.js';

const FAMILY_TYPES = new Set(['counter', 'gauge', 'histogram', 'summary']);

/** Label values as the exposition writes them: `le` and `quantile` bounds in Python's float format. */
function labelPairs(labels: Record<string, unknown> | undefined): Array<[string, string]> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(labels ?? {})) {
    if (value === undefined) continue;
    out[name] = (name === 'le' || name === 'quantile') && typeof value === 'number' ? floatToGoString(value) : String(value);
  }
  return sortedPairs(out);
}

export function familyFromMetricObject(metric: RenderableMetric): Family {
  const type = (FAMILY_TYPES.has(String(metric.type)) ? String(metric.type) : 'untyped') as Family['type'];
  const counter = type === 'counter';
  const familyName = counter && metric.name.endsWith('_total') ? metric.name.slice(0, -6) : metric.name;
  return {
    name: familyName,
    help: metric.help,
    type,
    samples: (metric.values ?? []).map((v): Sample => ({
      name: v.metricName ?? (counter ? `${familyName}_total` : metric.name),
      labels: labelPairs({ ...v.labels, ...v.sharedLabels }),
      value: v.value,
    })),
  };
}
