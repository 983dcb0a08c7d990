// The workload of the scrape and churn benchmarks: S series per worker, the same in
// every worker, half labeled counters and half labeled histograms (default buckets)
// over METRICS_PER_TYPE metrics of each type, labels method/route/status.

export const METRICS_PER_TYPE = 10;
const METHODS = ['GET', 'POST', 'PUT', 'DELETE'];
const STATUSES = ['200', '201', '400', '404', '500'];

/** The label values of series `i` of one metric: the same in every worker. */
export function seriesLabels(i) {
  return { method: METHODS[i % METHODS.length], route: `/api/v1/resource_${i}`, status: STATUSES[i % STATUSES.length] };
}

/** Deterministic, log-uniform over 0.5 ms .. 20 s, so every default bucket and +Inf is hit. */
export const OBSERVED = new Float64Array(1024);
{
  let seed = 0x9e3779b9;
  for (let i = 0; i < OBSERVED.length; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    OBSERVED[i] = Math.exp(Math.log(0.0005) + (seed / 2 ** 32) * (Math.log(20) - Math.log(0.0005)));
  }
}

/**
 * Creates the S series of one worker with a prom-client-compatible library and updates
 * each a few times. `lib` is `@prom-multiproc/core` or `prom-client`; `registers` picks
 * the registry (ours: none needed, the values live in the files). Returns the metric
 * objects: an app keeps them (module constants), so a memory figure must keep them too.
 */
export function runWorkload(lib, series, worker, registers) {
  const perMetric = Math.ceil(series / 2 / METRICS_PER_TYPE);
  const labelNames = ['method', 'route', 'status'];
  let made = 0;
  const metrics = [];
  for (let m = 0; m < METRICS_PER_TYPE; m++) {
    const counter = new lib.Counter({ name: `app_requests_${m}_total`, help: `Requests handled by handler ${m}.`, labelNames, registers });
    const histogram = new lib.Histogram({ name: `app_request_duration_${m}_seconds`, help: `Request duration of handler ${m}.`, labelNames, registers });
    metrics.push(counter, histogram);
    for (let i = 0; i < perMetric && made < series; i++) {
      const labels = seriesLabels(i);
      counter.inc(labels, 1 + ((i + worker) % 5));
      made++;
      if (made >= series) break;
      for (let k = 0; k < 3; k++) histogram.observe(labels, OBSERVED[(i * 3 + k + worker * 7) % OBSERVED.length]);
      made++;
    }
  }
  return metrics;
}

/**
 * A worker's file image with the same entries, its series in another (seeded) order: the
 * entries of one series (a counter's sample; a histogram's `_sum` and buckets) stay
 * together, as a worker creating that series writes them. What a restarted worker that
 * created its series in another order leaves (the values aside).
 */
export function withSeriesShuffled(image, seed) {
  const used = image.readInt32LE(0);
  const runs = [];
  let last = null;
  for (let pos = 8; pos < used;) {
    const keyLength = image.readInt32LE(pos);
    const size = 4 + keyLength + (8 - ((keyLength + 4) % 8)) + 16;
    const [metric, , labels] = JSON.parse(image.toString('utf8', pos + 4, pos + 4 + keyLength));
    const { le, ...rest } = labels;
    const series = JSON.stringify([metric, rest]);
    if (series !== last) runs.push([]);
    last = series;
    runs.at(-1).push(image.subarray(pos, pos + size));
    pos += size;
  }
  let state = seed >>> 0;
  for (let i = runs.length - 1; i > 0; i--) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const j = state % (i + 1);
    [runs[i], runs[j]] = [runs[j], runs[i]];
  }
  return Buffer.concat([image.subarray(0, 8), ...runs.flat(), image.subarray(used)]);
}

/**
 * Updates a share of the series `runWorkload` made (the metrics it returned): the series
 * with `i % every === tick % every` in each metric (every = 1 / share), the same series in
 * every worker, as the hot routes of a balanced cluster are. Counters get +1, histograms
 * one more observation; the same calls give the same values with either library.
 */
export function updateWorkload(metrics, series, tick, share) {
  const perMetric = Math.ceil(series / 2 / METRICS_PER_TYPE);
  const every = Math.max(1, Math.round(1 / share));
  let made = 0;
  for (let m = 0; m < METRICS_PER_TYPE; m++) {
    const counter = metrics[2 * m];
    const histogram = metrics[2 * m + 1];
    for (let i = 0; i < perMetric && made < series; i++) {
      const hot = i % every === tick % every;
      const labels = hot ? seriesLabels(i) : undefined;
      if (hot) counter.inc(labels, 1);
      made++;
      if (made >= series) break;
      if (hot) histogram.observe(labels, OBSERVED[(i + tick) % OBSERVED.length]);
      made++;
    }
  }
}
