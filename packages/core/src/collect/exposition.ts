// Renders metric families as Prometheus text 0.0.4 or OpenMetrics 1.0, the way Python's
// generate_latest does (FORMAT.md §8): used for merged output and for a local Registry.
import { compareCodePoints, type LabelPairs } from '../format/key.js';
import { floatToGoString } from '../format/number.js';
import type { ExponentialBuckets } from '../metrics/exponential-buckets.js';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

export interface Sample {
  name: string;
  /** Label pairs sorted by name in code-point order (see `sortedPairs`). */
  labels: LabelPairs;
  value: number;
  /**
   * The two parts of the line's prefix (`samplePrefix(name, labels)`), when the producer
   * keeps them, both or neither: `metricName(name)` and `labelsText(labels)`. Merged
   * samples do, so a scrape does not escape the same names and labels again; the parts are
   * shared (one name string per sample name, one labels string per label set), so a plan
   * of 75,000 samples makes no string per sample. A renderer may reuse a line it rendered
   * before with the same parts and value (collect/exposition-cache.ts).
   */
  readonly lineName?: string;
  readonly lineLabels?: string;
}

/** `samplePrefix(sample.name, sample.labels)`, from the parts the sample keeps when it does. */
export const linePrefix = (sample: Sample): string =>
  sample.lineLabels !== undefined ? sample.lineName! + sample.lineLabels : samplePrefix(sample.name, sample.labels);

/**
 * The values of a samples array, in its order, as a typed array, when its producer keeps
 * one: a merge plan registers each served family's samples here (collect/merge-plan.ts)
 * and keeps `values[i]` the current value of `samples[i]`. The renderer then compares
 * values as numbers without visiting the sample objects (collect/exposition-cache.ts).
 * Keyed by the array: a consumer that makes a new samples array (summary windows) is not here.
 */
export const sampleValues = new WeakMap<readonly Sample[], Float64Array>();

/**
 * A merged family's samples array, read without bringing its sample objects up to date.
 * A merge plan's families have `samples` as an accessor: a merge writes the values into
 * `sampleValues` only, and the objects' `value` is written when `samples` is next read
 * (every consumer reads the samples through it), not on every merge: writing 75,000
 * scattered objects cost a scrape whose values all change ~1 ms. The renderer, which
 * takes the values from `sampleValues`, gets the array here. A family whose `samples` was
 * assigned is not here.
 */
export const mergedSamples = new WeakMap<Family, readonly Sample[]>();

/** The samples of `family` for their names, labels and prefixes: a merged family's objects may hold values older than `sampleValues`. */
export const samplesOf = (family: Family): readonly Sample[] => mergedSamples.get(family) ?? family.samples;

export interface Family {
  /** The family name; for counters without the `_total` suffix. */
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  samples: Sample[];
  /**
   * A histogram's exponential buckets per series (labels as its `_sum` sample's), when it
   * is a native histogram. Only the protobuf exposition shows them; text shows the
   * classic buckets.
   */
  native?: NativeSeries[];
}

export interface NativeSeries {
  labels: LabelPairs;
  buckets: ExponentialBuckets;
}

/** Label pairs from a record, sorted as the exposition wants them. */
export function sortedPairs(labels: Record<string, string>): Array<[string, string]> {
  return Object.entries(labels).sort((a, b) => compareCodePoints(a[0], b[0]));
}

const LEGACY_METRIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
/** A label name the text format takes as it is (no escaping). */
export const LEGACY_LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Replaces each character that is not legacy-valid with `_` (escaping scheme "underscores"). */
function escapeName(name: string, legacy: RegExp, first: RegExp, rest: RegExp): string {
  if (legacy.test(name)) return name;
  let out = '';
  let i = 0;
  for (const ch of name) {
    out += (i === 0 ? first : rest).test(ch) ? ch : '_';
    i++;
  }
  return out;
}
/** Metric names as the exposition writes them, by name; cleared when it holds MAX_ESCAPED_NAMES. */
const escapedNames = new Map<string, string>();
const MAX_ESCAPED_NAMES = 4096;
/**
 * A metric name as the exposition writes it (not legacy-valid characters become `_`). Kept
 * by name: a plan asks for a sample name once per merged sample (75,000 at 8 × 10,000,
 * a series' `_bucket`, `_count` and `_sum` in turn), and a regular expression test per call
 * costs more than the rest.
 */
export function metricName(n: string): string {
  let escaped = escapedNames.get(n);
  if (escaped === undefined) {
    escaped = escapeName(n, LEGACY_METRIC, /^[a-zA-Z_:]$/, /^[a-zA-Z0-9_:]$/);
    if (escapedNames.size >= MAX_ESCAPED_NAMES) escapedNames.clear();
    escapedNames.set(n, escaped);
  }
  return escaped;
}
/** A label name as the exposition writes it. */
export const labelName = (n: string) => escapeName(n, LEGACY_LABEL, /^[a-zA-Z_]$/, /^[a-zA-Z0-9_]$/);

/**
 * Why Prometheus' text parser would reject a sample with these labels, or null: an empty
 * label name, `__name__` (reserved), or two names that are the same once escaped
 * (`a-b` and `a_b` both become `a_b`; a repeated label name fails the whole scrape).
 */
export function unexposableLabels(labels: LabelPairs): string | null {
  if (labels.length === 0) return null;
  const seen = new Map<string, string>();
  for (const [name] of labels) {
    if (name === '') return 'empty label name';
    const escaped = labelName(name);
    if (escaped === '__name__') return `label name ${JSON.stringify(name)} is reserved ("__name__")`;
    const other = seen.get(escaped);
    if (other !== undefined) return `label names ${JSON.stringify(other)} and ${JSON.stringify(name)} are both "${escaped}" once escaped`;
    seen.set(escaped, name);
  }
  return null;
}

/** Go's strconv.ParseFloat syntax without hex and underscores: what Prometheus accepts for `le` and `quantile`. */
export function isPrometheusFloat(text: string): boolean {
  return /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(text) || /^[+-]?(inf|infinity|nan)$/i.test(text);
}

/**
 * The names a family occupies in the exposition, escaped: its TYPE line names (text and
 * OpenMetrics) and the sample names its type may have. Two families sharing one of them
 * would be one family to Prometheus' parser (a second HELP/TYPE line fails the scrape).
 */
export function exposedNames(family: Pick<Family, 'name' | 'type'>): string[] {
  const n = family.name;
  switch (family.type) {
    case 'counter': return [n, `${n}_total`, `${n}_created`].map(metricName);
    case 'histogram': return [n, `${n}_bucket`, `${n}_sum`, `${n}_count`, `${n}_created`].map(metricName);
    case 'summary': return [n, `${n}_sum`, `${n}_count`, `${n}_created`].map(metricName);
    default: return [metricName(n)];
  }
}

const escapeHelp = (s: string) => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const escapeHelpOpenMetrics = (s: string) => escapeHelp(s).replace(/"/g, '\\"');
const LABEL_VALUE_SPECIAL = /[\\\n"]/;
// Most values need no escaping: test once instead of running three replaces.
const escapeLabelValue = (s: string) =>
  LABEL_VALUE_SPECIAL.test(s) ? s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"') : s;

/** A sample line up to its value: `name{label="value",...} `, the same in both formats. */
export function samplePrefix(name: string, labels: LabelPairs): string {
  // Joined, not concatenated: a flat string (`+` would keep the two parts as a rope).
  return [metricName(name), labelsText(labels)].join('');
}

/**
 * The labels' part of a sample line up to its value: `{label="value",...} `, or ` ` for
 * none. `legacyNames`: every label name is known to be legacy-valid (written as it is).
 */
export function labelsText(labels: LabelPairs, legacyNames = false): string {
  if (labels.length === 0) return ' ';
  // Joined, not concatenated: `+=` leaves a tree of string pieces (a rope) that costs
  // several times the text's bytes for as long as a label set keeps its text.
  const parts: string[] = ['{'];
  for (let i = 0; i < labels.length; i++) {
    if (i > 0) parts.push(',');
    parts.push(legacyNames ? labels[i][0] : labelName(labels[i][0]), '="', escapeLabelValue(labels[i][1]), '"');
  }
  parts.push('} ');
  return parts.join('');
}

/**
 * A family's `# HELP` and `# TYPE` lines. Text 0.0.4 names a counter by its `_total`
 * sample; OpenMetrics names it without, escapes `"` in the help and calls untyped `unknown`.
 */
export function familyHeader(family: Family, openMetrics: boolean): string {
  if (openMetrics) {
    const name = metricName(family.name);
    const type = family.type === 'untyped' ? 'unknown' : family.type;
    return `# HELP ${name} ${escapeHelpOpenMetrics(family.help)}\n# TYPE ${name} ${type}\n`;
  }
  const name = metricName(family.type === 'counter' ? `${family.name}_total` : family.name);
  return `# HELP ${name} ${escapeHelp(family.help)}\n# TYPE ${name} ${family.type}\n`;
}

/** The exemplars a family's samples may carry in OpenMetrics: counters' and histograms' only. */
export function familyExemplars(family: Family, exemplars: ReadonlyMap<string, string> | undefined): ReadonlyMap<string, string> | undefined {
  return exemplars !== undefined && exemplars.size > 0 && (family.type === 'counter' || family.type === 'histogram') ? exemplars : undefined;
}

export const OPENMETRICS_EOF = '# EOF\n';

function renderSamples(samples: readonly Sample[], exemplars?: ReadonlyMap<string, string>): string {
  let out = '';
  if (exemplars === undefined) {
    for (const sample of samples) out += linePrefix(sample) + floatToGoString(sample.value) + '\n';
    return out;
  }
  for (const sample of samples) {
    const prefix = linePrefix(sample);
    out += prefix + floatToGoString(sample.value) + (exemplars.get(prefix) ?? '') + '\n';
  }
  return out;
}

export function renderText(families: Iterable<Family>): string {
  let out = '';
  for (const family of families) out += familyHeader(family, false) + renderSamples(family.samples);
  return out;
}

/**
 * OpenMetrics text; `exemplars` maps a counter's `_total` or a histogram's `_bucket` sample
 * prefix to its exemplar suffix (collect/exemplars.ts). Text 0.0.4 has no exemplars.
 */
export function renderOpenMetrics(families: Iterable<Family>, exemplars?: ReadonlyMap<string, string>): string {
  let out = '';
  for (const family of families) out += familyHeader(family, true) + renderSamples(family.samples, familyExemplars(family, exemplars));
  return out + OPENMETRICS_EOF;
}
