// `@prom-multiproc/core/prom-client`: prom-client 15's exports over prom-multiproc, so an
// app moves over by changing its import. Where something cannot behave the same (the
// multiprocess format has no quantiles, counters end in `_total`, ...) docs/migration.md
// says so. Names prom-client does not have (bridgePromClient, startClusterCollector) are
// the ones a migration needs next.
import { OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE } from './collect/exposition.js';
import { exponentialBuckets, linearBuckets } from './metrics/buckets.js';
import { Counter } from './metrics/counter.js';
import { Gauge } from './metrics/gauge.js';
import { Histogram } from './metrics/histogram.js';
import { Registry, globalRegistry, settableGlobalRegistry, type RegistryContentType } from './metrics/registry.js';
import { Summary } from './metrics/summary.js';
import { validateLabelName, validateMetricName } from './metrics/validation.js';
import { aggregators } from './interop/aggregate.js';
import { collectDefaultMetrics } from './interop/default-metrics/index.js';
import { bridgePromClient } from './interop/prom-client-bridge.js';
// Loaded on first use, as from the package's index.
import { AggregatorRegistry, Pushgateway, startClusterCollector } from './lazy/exports.js';

export const register = globalRegistry;
export const prometheusContentType = PROMETHEUS_CONTENT_TYPE;
export const openMetricsContentType = OPENMETRICS_CONTENT_TYPE;

/**
 * The global registry's content type. prom-client makes it a settable property of the
 * module. An ES module binding cannot be assigned from outside: it follows
 * `register.setContentType()`, and the default export's property can be set. In the
 * CommonJS build the module object gets prom-client's accessor (below).
 */
export let contentType: RegistryContentType = globalRegistry.contentType;
const setGlobalContentType = settableGlobalRegistry.setContentType.bind(settableGlobalRegistry);
settableGlobalRegistry.setContentType = (type: RegistryContentType) => {
  setGlobalContentType(type);
  // Only on a change: the CommonJS build writes this binding through the accessor below.
  if (contentType !== settableGlobalRegistry.contentType) contentType = settableGlobalRegistry.contentType;
};
const contentTypeAccessor: PropertyDescriptor = {
  configurable: false,
  enumerable: true,
  get: () => settableGlobalRegistry.contentType,
  set: (type: RegistryContentType) => settableGlobalRegistry.setContentType(type),
};
// `typeof module` is 'undefined' in an ES module; in the CommonJS build, module.exports is this module's exports.
if (typeof module === 'object' && module !== null && typeof module.exports === 'object') {
  Object.defineProperty(module.exports, 'contentType', contentTypeAccessor);
}

export {
  Registry, Counter, Gauge, Histogram, Summary, Pushgateway, AggregatorRegistry,
  linearBuckets, exponentialBuckets, validateMetricName, collectDefaultMetrics, aggregators,
  bridgePromClient, startClusterCollector, validateLabelName,
};
// Every type name prom-client 15's index.d.ts declares, with its shape.
export type { CounterConfiguration } from './metrics/counter.js';
export type { GaugeConfiguration } from './metrics/gauge.js';
export type { HistogramConfiguration } from './metrics/histogram.js';
export type { SummaryConfiguration } from './metrics/summary.js';
export type {
  Aggregator, CollectFunction, IncreaseDataWithExemplar, MetricConfiguration, MetricObject, MetricObjectWithValues,
  MetricType, MetricValue, MetricValueWithName, ObserveDataWithExemplar,
} from './metrics/metric.js';
export type { LabelValues } from './metrics/validation.js';
export type { Metric, OpenMetricsContentType, PrometheusContentType, RegistryContentType } from './metrics/registry.js';
export type { DefaultMetricsConfiguration as DefaultMetricsCollectorConfiguration } from './interop/default-metrics/index.js';
export type { PushgatewayOptions, PushgatewayParameters, PushgatewayResponse } from './interop/pushgateway.js';
export type { PromClientBridge, PromClientBridgeOptions } from './interop/prom-client-bridge.js';
export type Charset = 'utf-8';
export type PrometheusMIME = 'text/plain';
export type PrometheusMetricsVersion = '0.0.4';
export type OpenMetricsMIME = 'application/openmetrics-text';
export type OpenMetricsVersion = '1.0.0';
/** prom-client's `Collector`: a function run to update metrics. */
export type Collector = () => void;
/** prom-client's name for "no label names" (the default of its metric classes). */
export type NoLabelNameType = never;

/** `import client from '@prom-multiproc/core/prom-client'`, like prom-client's CommonJS module object. */
const client = {
  register, Registry, Counter, Gauge, Histogram, Summary, Pushgateway, AggregatorRegistry,
  linearBuckets, exponentialBuckets, validateMetricName, collectDefaultMetrics, aggregators,
  prometheusContentType, openMetricsContentType, bridgePromClient, startClusterCollector, validateLabelName,
} as typeof import('./prom-client.js') & { contentType: RegistryContentType };
Object.defineProperty(client, 'contentType', contentTypeAccessor);
export default client;
