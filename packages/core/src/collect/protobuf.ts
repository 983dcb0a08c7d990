// Renders metric families in Prometheus' protobuf exposition (io.prometheus.client
// MetricFamily messages, each length-delimited): the only format that carries native
// histograms. Encoding is protobufjs's; the schema below declares the messages and field
// numbers of the exposition format (a subset: what we emit). Counters and classic buckets
// carry the newest exemplar of any process (collect/exemplars.ts), as in OpenMetrics.
import protobuf from 'protobufjs';
import type { LabelPairs } from '../format/key.js';
import type { ExponentialBuckets } from '../metrics/exponential-buckets.js';
import type { StoredExemplar } from '../format/exemplar-file.js';
import { exemplarLabelPairs, type NewestExemplars } from './exemplars.js';
import { linePrefix, type Family, type NativeSeries, type Sample } from './exposition.js';

// Negotiation lives apart, so a server can decide without loading protobufjs.
export { PROTOBUF_CONTENT_TYPE, wantsProtobuf } from './protobuf-negotiation.js';


const field = (id: number, type: string, rule?: 'repeated') => (rule ? { id, type, rule } : { id, type });

const root = protobuf.Root.fromJSON({
  nested: {
    io: { nested: { prometheus: { nested: { client: { options: { syntax: 'proto2' }, nested: {
      LabelPair: { fields: { name: field(1, 'string'), value: field(2, 'string') } },
      MetricType: { values: { COUNTER: 0, GAUGE: 1, SUMMARY: 2, UNTYPED: 3, HISTOGRAM: 4, GAUGE_HISTOGRAM: 5 } },
      Timestamp: { fields: { seconds: field(1, 'int64'), nanos: field(2, 'int32') } },
      Exemplar: { fields: { label: field(1, 'LabelPair', 'repeated'), value: field(2, 'double'), timestamp: field(3, 'Timestamp') } },
      Gauge: { fields: { value: field(1, 'double') } },
      Counter: { fields: { value: field(1, 'double'), exemplar: field(2, 'Exemplar') } },
      Quantile: { fields: { quantile: field(1, 'double'), value: field(2, 'double') } },
      Summary: { fields: { sampleCount: field(1, 'uint64'), sampleSum: field(2, 'double'), quantile: field(3, 'Quantile', 'repeated') } },
      Untyped: { fields: { value: field(1, 'double') } },
      Bucket: { fields: { cumulativeCount: field(1, 'uint64'), upperBound: field(2, 'double'), exemplar: field(3, 'Exemplar') } },
      BucketSpan: { fields: { offset: field(1, 'sint32'), length: field(2, 'uint32') } },
      Histogram: {
        fields: {
          sampleCount: field(1, 'uint64'),
          sampleSum: field(2, 'double'),
          bucket: field(3, 'Bucket', 'repeated'),
          schema: field(5, 'sint32'),
          zeroThreshold: field(6, 'double'),
          zeroCount: field(7, 'uint64'),
          negativeSpan: field(9, 'BucketSpan', 'repeated'),
          negativeDelta: field(10, 'sint64', 'repeated'),
          positiveSpan: field(12, 'BucketSpan', 'repeated'),
          positiveDelta: field(13, 'sint64', 'repeated'),
          exemplars: field(16, 'Exemplar', 'repeated'),
        },
      },
      Metric: {
        fields: {
          label: field(1, 'LabelPair', 'repeated'),
          gauge: field(2, 'Gauge'),
          counter: field(3, 'Counter'),
          summary: field(4, 'Summary'),
          untyped: field(5, 'Untyped'),
          timestampMs: field(6, 'int64'),
          histogram: field(7, 'Histogram'),
        },
      },
      MetricFamily: {
        fields: { name: field(1, 'string'), help: field(2, 'string'), type: field(3, 'MetricType'), metric: field(4, 'Metric', 'repeated') },
      },
    } } } } } },
  },
});

export const MetricFamilyMessage = root.lookupType('io.prometheus.client.MetricFamily');

const TYPES = { counter: 0, gauge: 1, summary: 2, untyped: 3, histogram: 4 } as const;

type Labels = Array<{ name: string; value: string }>;
const toLabels = (pairs: LabelPairs): Labels => pairs.map(([name, value]) => ({ name, value }));
const without = (pairs: LabelPairs, name: string) => pairs.filter((p) => p[0] !== name);

/** Every family, one length-delimited MetricFamily message after another. */
export function renderProtobuf(families: Iterable<Family>, exemplars: NewestExemplars = new Map()): Uint8Array {
  const writer = protobuf.Writer.create();
  const exemplarOf = (sample: Sample) => {
    if (exemplars.size === 0) return undefined;
    const e = exemplars.get(linePrefix(sample));
    return e && exemplarMessage(e);
  };
  for (const family of families) {
    const message = familyMessage(family, exemplarOf);
    if (message.metric.length > 0) MetricFamilyMessage.encodeDelimited(MetricFamilyMessage.fromObject(message), writer);
  }
  return writer.finish();
}

interface Group {
  labels: LabelPairs;
  samples: Sample[];
}

/** Samples grouped by their series: labels without `le` (histograms) or `quantile` (summaries). */
function groupSamples(samples: readonly Sample[], drop: string): Map<string, Group> {
  const groups = new Map<string, Group>();
  for (const sample of samples) {
    const labels = without(sample.labels, drop);
    const id = JSON.stringify(labels);
    let group = groups.get(id);
    if (!group) groups.set(id, (group = { labels, samples: [] }));
    group.samples.push(sample);
  }
  return groups;
}

function exemplarMessage(e: StoredExemplar): object {
  const seconds = Math.floor(e.timestamp);
  return {
    label: toLabels(exemplarLabelPairs(e.labels)),
    value: e.value,
    timestamp: { seconds, nanos: Math.min(999_999_999, Math.round((e.timestamp - seconds) * 1e9)) },
  };
}

function familyMessage(family: Family, exemplarOf: (sample: Sample) => object | undefined): { name: string; help: string; type: number; metric: object[] } {
  const { name } = family;
  const metric: object[] = [];
  switch (family.type) {
    case 'counter':
      for (const s of family.samples) {
        if (s.name === `${name}_total`) metric.push({ label: toLabels(s.labels), counter: { value: s.value, exemplar: exemplarOf(s) } });
      }
      return { name: `${name}_total`, help: family.help, type: TYPES.counter, metric };
    case 'gauge':
    case 'untyped':
      for (const s of family.samples) metric.push({ label: toLabels(s.labels), [family.type]: { value: s.value } });
      break;
    case 'summary':
      for (const group of groupSamples(family.samples, 'quantile').values()) {
        const summary = { sampleCount: 0, sampleSum: 0, quantile: [] as object[] };
        for (const s of group.samples) {
          if (s.name === `${name}_count`) summary.sampleCount = count(s.value);
          else if (s.name === `${name}_sum`) summary.sampleSum = s.value;
          else if (s.name === name) summary.quantile.push({ quantile: Number(s.labels.find((p) => p[0] === 'quantile')?.[1]), value: s.value });
        }
        metric.push({ label: toLabels(group.labels), summary });
      }
      break;
    case 'histogram': {
      const native = new Map<string, NativeSeries>((family.native ?? []).map((n) => [JSON.stringify(n.labels), n]));
      for (const [id, group] of groupSamples(family.samples, 'le')) {
        const histogram: Record<string, unknown> = { sampleCount: 0, sampleSum: 0, bucket: [] as object[] };
        for (const s of group.samples) {
          if (s.name === `${name}_count`) histogram.sampleCount = count(s.value);
          else if (s.name === `${name}_sum`) histogram.sampleSum = s.value;
          else if (s.name === `${name}_bucket`) {
            const le = Number(s.labels.find((p) => p[0] === 'le')?.[1].replace('Inf', 'Infinity'));
            const exemplar = exemplarOf(s);
            // +Inf is implied by the count; it is written only to carry its exemplar (as client_golang does).
            if (le !== Infinity || exemplar) (histogram.bucket as object[]).push({ cumulativeCount: count(s.value), upperBound: le, exemplar });
          }
        }
        const buckets = native.get(id)?.buckets;
        if (buckets) Object.assign(histogram, nativeFields(buckets));
        metric.push({ label: toLabels(group.labels), histogram });
      }
      break;
    }
  }
  return { name, help: family.help, type: TYPES[family.type], metric };
}

/** Counts are whole numbers in the files; uint64 fields take no NaN or fraction. */
function count(value: number): number {
  return Number.isFinite(value) && value > 0 ? Math.round(value) : 0;
}

/** Schema, zero bucket, spans and delta-encoded counts of one side. */
function nativeFields(b: ExponentialBuckets): Record<string, unknown> {
  const positive = spansAndDeltas(b.positive);
  const negative = spansAndDeltas(b.negative);
  return {
    schema: b.schema,
    zeroThreshold: b.zeroThreshold,
    zeroCount: count(b.zeroCount),
    // An empty native histogram still needs a span to be told from a classic one.
    positiveSpan: positive.spans.length > 0 || negative.spans.length > 0 ? positive.spans : [{ offset: 0, length: 0 }],
    positiveDelta: positive.deltas,
    negativeSpan: negative.spans,
    negativeDelta: negative.deltas,
  };
}

function spansAndDeltas(side: Map<number, number>): { spans: Array<{ offset: number; length: number }>; deltas: number[] } {
  const indices = [...side.keys()].filter((i) => side.get(i)! > 0).sort((x, y) => x - y);
  const spans: Array<{ offset: number; length: number }> = [];
  const deltas: number[] = [];
  let previousIndex = 0;
  let previousCount = 0;
  for (let k = 0; k < indices.length; k++) {
    const index = indices[k];
    if (k === 0 || index !== previousIndex + 1) spans.push({ offset: k === 0 ? index : index - previousIndex - 1, length: 1 });
    else spans[spans.length - 1].length++;
    const c = count(side.get(index)!);
    deltas.push(c - previousCount);
    previousCount = c;
    previousIndex = index;
  }
  return { spans, deltas };
}
