// How a prom-client gauge is merged across processes, chosen from its `aggregator`
// (the rule prom-client's AggregatorRegistry applies at scrape time).
import type { GaugeMode } from '../format/names.js';
import type { Aggregator } from '../metrics/metric.js';

/**
 * Gauge mode for each prom-client aggregator; `null` means "not mirrored".
 *
 * - `sum`, `min`, `max`: the live modes with the same rule; `live` because prom-client
 *   only ever aggregated the workers that answered, so a dead worker's gauge leaves.
 * - `first` (prom-client: the value of whichever worker answered first; used where all
 *   workers hold the same value, such as `nodejs_version_info`): `livemostrecent`, the
 *   value one worker set last. Still one process's value, never a combination.
 * - `average`: the file format has no mean (the collector cannot divide), so `liveall`
 *   keeps one series per live process with a `pid` label; `avg without (pid) (x)` in
 *   PromQL gives exactly prom-client's number, and the worst worker stays visible.
 * - `omit` (prom-client leaves the metric out of the cluster output): not mirrored.
 */
export const GAUGE_MODE_FOR_AGGREGATOR: Readonly<Record<Aggregator, GaugeMode | null>> = Object.freeze({
  sum: 'livesum',
  min: 'livemin',
  max: 'livemax',
  first: 'livemostrecent',
  average: 'liveall',
  omit: null,
});

/** The mode for an aggregator name; prom-client's default aggregator is `sum`. */
export function gaugeModeForAggregator(aggregator: string | undefined): GaugeMode | null {
  const known = GAUGE_MODE_FOR_AGGREGATOR[(aggregator ?? 'sum') as Aggregator];
  if (known === undefined) throw new Error(`'${String(aggregator)}' is not a defined aggregator.`);
  return known;
}
