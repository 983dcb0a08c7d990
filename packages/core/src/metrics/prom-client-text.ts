// A registry's own exposition, written the way prom-client 15 writes it, so that output
// of an app that moved over (and its snapshot tests) stays byte for byte the same: names
// as declared, label order as given (the series' labels, then the registry's default
// labels), numbers as JavaScript prints them, a blank line between families in text
// 0.0.4. The collector's rendering of a directory is Python's (collect/exposition.ts).

/** One value of a metric object as prom-client's registry reads it. */
export interface RenderableValue {
  value: number;
  labels?: Record<string, unknown>;
  /** Labels every value of a series shares (prom-client's histograms); written after `labels`. */
  sharedLabels?: Record<string, unknown>;
  metricName?: string;
  exemplar?: { labelSet: Record<string, unknown>; value: number; timestamp: number } | null;
}

export interface RenderableMetric {
  name: string;
  help: string;
  /** A string at run time ('counter', ...); prom-client's types call it an enum. */
  type: string | number;
  values?: RenderableValue[];
}

/** Anything a registry holds: our metrics, prom-client's, or a custom collector `{ name, get() }`. */
export interface CollectableMetric {
  name: string;
  get(): object | Promise<object>;
  getForPromString?(): RenderableMetric | Promise<RenderableMetric>;
  reset?(): void;
}

/** A number as prom-client prints it (JavaScript's own format; `Nan`, `+Inf`, `-Inf`). */
export function promClientNumber(value: number): string {
  if (Number.isFinite(value)) return `${value}`;
  if (Number.isNaN(value)) return 'Nan';
  return value < 0 ? '-Inf' : '+Inf';
}

const escapeString = (s: string) => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const escapeLabelValue = (v: unknown) => (typeof v === 'string' ? escapeString(v).replace(/"/g, '\\"') : v);

function formatLabels(labels: Record<string, unknown>, exclude?: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(labels)) {
    if (!exclude || !Object.hasOwn(exclude, name)) out.push(`${name}="${escapeLabelValue(value)}"`);
  }
  return out;
}

/**
 * One metric object as text lines without a trailing newline (prom-client's
 * `getMetricsAsString`). `name` overrides the object's name (a counter in OpenMetrics).
 */
export function renderMetricObject(
  metric: RenderableMetric,
  defaultLabels: Record<string, unknown>,
  openMetrics: boolean,
  name = metric.name,
): string {
  const escapedName = escapeString(name);
  const lines = [`# HELP ${escapedName} ${escapeString(metric.help)}`, `# TYPE ${escapedName} ${metric.type}`];
  const defaultNames = Object.keys(defaultLabels);
  for (const val of metric.values ?? []) {
    let metricName = val.metricName ?? escapedName;
    let labels = val.labels ?? {};
    const shared = val.sharedLabels ?? {};
    if (openMetrics && metric.type === 'counter') metricName = `${metricName}_total`;
    if (defaultNames.length > 0) {
      labels = { ...labels };
      for (const label of defaultNames) labels[label] ??= defaultLabels[label];
    }
    const parts = [...formatLabels(labels, shared), formatLabels(shared).join(',')].filter(Boolean);
    let line = `${metricName}${parts.length > 0 ? `{${parts.join(',')}}` : ''} ${promClientNumber(val.value)}`;
    if (openMetrics && val.exemplar) {
      const exemplar = val.exemplar;
      line += ` # {${formatLabels(exemplar.labelSet).join(',')}} ${promClientNumber(exemplar.value)} ${exemplar.timestamp}`;
    }
    lines.push(line);
  }
  return lines.join('\n');
}

/** The metric object a registry renders: `getForPromString()` where a metric has it, else `get()`. */
export async function renderableOf(metric: CollectableMetric): Promise<RenderableMetric> {
  return (typeof metric.getForPromString === 'function' ? metric.getForPromString() : metric.get()) as RenderableMetric;
}

/** A whole registry: text 0.0.4 (families apart by a blank line) or OpenMetrics (ends in `# EOF`). */
export async function renderRegistry(
  metrics: CollectableMetric[],
  defaultLabels: Record<string, unknown>,
  openMetrics: boolean,
): Promise<string> {
  const rendered = await Promise.all(metrics.map(async (metric) => {
    const object = await renderableOf(metric);
    // prom-client drops a counter's `_total` for the OpenMetrics family name and adds it to each sample.
    const name = openMetrics && object.type === 'counter' ? String(object.name).replace(/_total$/, '') : object.name;
    return renderMetricObject(object, defaultLabels, openMetrics, name);
  }));
  return openMetrics ? `${rendered.join('\n')}\n# EOF\n` : `${rendered.join('\n\n')}\n`;
}
