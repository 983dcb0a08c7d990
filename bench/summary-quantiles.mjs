// Summary quantiles over 4 processes with different value distributions: ours (each
// process's window of exponential buckets, merged by the collector) against prom-client's
// AggregatorRegistry (which sums each worker's quantiles) and the exact quantiles of the
// union of all observations (nearest rank). Not a timing: the numbers for docs/metrics.md.
//
//   node bench/summary-quantiles.mjs [--out <file>]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import promClient from 'prom-client';
import { Collector, configureStorage, Summary } from '@prom-multiproc/core';

const PERCENTILES = [0.01, 0.5, 0.9, 0.99];
const here = path.dirname(fileURLToPath(import.meta.url));

/** Worker w's observations: uniform 0..100, log-uniform 0.01..100, a bump at 5..6, latencies around 0.2 s. */
function valuesFor(w, n = 5000) {
  let seed = 99 + w;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  return Array.from({ length: n }, () => {
    const r = random();
    return [100 * r, 10 ** (r * 4 - 2), 5 + r, 0.1 + 0.2 * r * r][w];
  });
}

if (process.argv[2] === '--worker') {
  const [, , , dir, w] = process.argv;
  configureStorage({ directory: dir, processId: `bench${w}` });
  const s = new Summary({ name: 'job_size', help: 'h', percentiles: PERCENTILES });
  for (const v of valuesFor(Number(w))) s.observe(v);
  process.exit(0);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prom-multiproc-summary-'));
try {
  for (let w = 0; w < 4; w++) {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--worker', dir, String(w)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
  }
  const text = (await new Collector({ directory: dir }).scrape()).body;
  const ours = new Map([...text.matchAll(/^job_size\{quantile="([^"]+)"\} (\S+)$/gm)].map((m) => [Number(m[1]), Number(m[2])]));

  // prom-client: one registry per worker, as its cluster workers have, aggregated by its AggregatorRegistry.
  const jsons = [];
  for (let w = 0; w < 4; w++) {
    const registry = new promClient.Registry();
    const s = new promClient.Summary({ name: 'job_size', help: 'h', percentiles: PERCENTILES, registers: [registry] });
    for (const v of valuesFor(w)) s.observe(v);
    jsons.push(await registry.getMetricsAsJSON());
  }
  const aggregated = await promClient.AggregatorRegistry.aggregate(jsons).getSingleMetric('job_size').get();
  const theirs = new Map(aggregated.values.filter((v) => v.labels.quantile !== undefined).map((v) => [Number(v.labels.quantile), v.value]));

  const all = [0, 1, 2, 3].flatMap((w) => valuesFor(w)).sort((a, b) => a - b);
  const exact = (q) => all[Math.max(1, Math.ceil(q * all.length)) - 1];
  const rows = PERCENTILES.map((q) => ({
    quantile: q,
    exact: exact(q),
    ours: ours.get(q),
    ours_relative_error: Math.abs(ours.get(q) - exact(q)) / exact(q),
    prom_client_aggregator_registry: theirs.get(q),
  }));
  console.log('quantile   exact        ours (error)            prom-client AggregatorRegistry');
  for (const r of rows) {
    console.log(`${String(r.quantile).padEnd(9)}  ${r.exact.toPrecision(6).padEnd(11)}  ${r.ours.toPrecision(6)} (${(100 * r.ours_relative_error).toFixed(2)} %)`.padEnd(48) + `  ${r.prom_client_aggregator_registry.toPrecision(6)}`);
  }
  const outArg = process.argv.indexOf('--out');
  const out = outArg > 0 ? process.argv[outArg + 1] : path.join(here, 'results', 'summary-quantiles.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify({ observations: all.length, processes: 4, rows }, null, 2) + '\n');
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
