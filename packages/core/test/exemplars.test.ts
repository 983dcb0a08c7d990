// Exemplars in memory (side by side with prom-client 15.1.3: the same calls give the same
// OpenMetrics bytes and get() values) and in this process's exemplar file (what is written,
// what is refused).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import promClient from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Collector, configureStorage } from '../src/index.js';
import { SnapshotWriter } from '../src/interop/bridge.js';
import { snapshotFromInternals, snapshotFromJson } from '../src/interop/snapshot.js';
import * as ours from '../src/prom-client.js';
import { exemplarFileName, readExemplarFile } from '../src/format/exemplar-file.js';

type Lib = typeof promClient;
const OM = promClient.Registry.OPENMETRICS_CONTENT_TYPE;

afterEach(() => {
  vi.useRealTimers();
});

/** Runs `ops` against a fresh OpenMetrics registry of each library, at the same fake clock. */
async function both(ops: (lib: Lib, registry: InstanceType<Lib['Registry']>) => void) {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(new Date('2026-12-01T12:00:00.123Z'));
  const theirs = new promClient.Registry(OM as never);
  ops(promClient, theirs);
  vi.setSystemTime(new Date('2026-12-01T12:00:00.123Z'));
  const mine = new ours.Registry(OM as never);
  ops(ours as unknown as Lib, mine as unknown as InstanceType<Lib['Registry']>);
  vi.useRealTimers();
  return { theirs, mine };
}

describe('in memory, exemplars as prom-client 15.1.3 keeps and renders them', () => {
  beforeEach(() => {
    configureStorage();
  });

  it('counters and histograms: OpenMetrics byte for byte, get() values equal', async () => {
    const { theirs, mine } = await both((lib, registry) => {
      const registers = [registry];
      const c = new lib.Counter({ name: 'requests_total', help: 'r', labelNames: ['route'], enableExemplars: true, registers });
      c.inc({ labels: { route: '/a' }, value: 2, exemplarLabels: { trace_id: 'abc', span_id: 'x"y\\z' } });
      c.inc({ labels: { route: '/a' }, exemplarLabels: { trace_id: 'def' } }); // the latest wins, value 1
      c.inc({ labels: { route: '/b' } }); // no exemplar
      c.inc({ labels: { route: '/c' }, value: 3, exemplarLabels: {} }); // prom-client keeps an empty one
      const bare = new lib.Counter({ name: 'bare', help: 'b', enableExemplars: true, registers });
      bare.inc();
      bare.inc({ value: 0.5, exemplarLabels: { trace_id: 'ü' } });
      const h = new lib.Histogram({ name: 'latency_seconds', help: 'h', labelNames: ['m'], buckets: [0.1, 1], enableExemplars: true, registers });
      h.observe({ labels: { m: 'GET' }, value: 0.05, exemplarLabels: { trace_id: 't1' } });
      h.observe({ labels: { m: 'GET' }, value: 0.5, exemplarLabels: { trace_id: 't2' } });
      h.observe({ labels: { m: 'GET' }, value: 0.07, exemplarLabels: { trace_id: 't3' } }); // replaces t1
      h.observe({ labels: { m: 'POST' }, value: 0.5, exemplarLabels: {} }); // none
      h.observe({ labels: { m: 'PUT' }, value: 0.5 });
      h.observe({ labels: { m: 'PUT' }, value: 5, exemplarLabels: { trace_id: 'inf' } }); // +Inf
      const end = h.startTimer({ m: 'T' }, { trace_id: 'timer' });
      vi.setSystemTime(new Date('2026-12-01T12:00:01.123Z'));
      end();
    });
    const text = await mine.metrics();
    // Sanity: the comparison is about exemplars.
    expect(text).toContain('requests_total{route="/a"} 3 # {trace_id="def"} 1 1796126400.123');
    expect(text).toContain('latency_seconds_bucket{le="0.1",m="GET"} 2 # {trace_id="t3"} 0.07 1796126400.123');
    expect(text).toContain('latency_seconds_bucket{le="+Inf",m="PUT"} 2 # {trace_id="inf"} 5 1796126400.123');
    // The timer's duration differs between the two runs: its lines are compared apart.
    const timerLine = /^latency_seconds_bucket\{le="0.1",m="T"\} 1 # \{trace_id="timer"\} [0-9.e-]+ 1796126401.123$/m;
    expect(text).toMatch(timerLine);
    expect(await theirs.metrics()).toMatch(timerLine);
    const withoutTimer = (t: string) => t.split('\n').filter((l) => !l.includes('m="T"')).join('\n');
    expect(withoutTimer(text)).toBe(withoutTimer(await theirs.metrics()));
    const mineJson = (await mine.getMetricsAsJSON()) as Array<{ name: string; values: unknown[] }>;
    const theirsJson = (await theirs.getMetricsAsJSON()) as Array<{ name: string; values: unknown[] }>;
    // (prom-client renames a counter to its family name once an OpenMetrics registry has rendered it.)
    const values = (json: Array<{ name: string; values: unknown[] }>, name: string) => json.find((m) => m.name.replace(/_total$/, '') === name)!.values;
    expect(values(mineJson, 'requests')).toEqual(values(theirsJson, 'requests'));
    expect(values(mineJson, 'bare')).toEqual(values(theirsJson, 'bare'));
    expect(values(mineJson, 'requests')).toContainEqual({ value: 3, labels: { route: '/a' }, exemplar: { labelSet: { trace_id: 'def' }, value: 1, timestamp: 1796126400.123 } });
    const histogram = (json: Array<{ name: string; values: Array<{ labels: Record<string, unknown> }> }>) =>
      json.find((m) => m.name === 'latency_seconds')!.values.filter((v) => v.labels.m !== 'T');
    expect(histogram(mineJson as never)).toEqual(histogram(theirsJson as never));
  });
});

describe('invalid exemplar labels', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pm-exemplars-'));
  });
  afterEach(() => {
    configureStorage();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const tooLong = { trace_id: 'a'.repeat(121) }; // 8 + 121 = 129 characters

  it('prom-client refuses the same label set over 128 characters with the same RangeError', () => {
    const registry = new promClient.Registry(OM as never);
    const c = new promClient.Counter({ name: 'c', help: 'c', enableExemplars: true, registers: [registry] });
    expect(() => c.inc({ exemplarLabels: tooLong })).toThrow(new RangeError('Label set size must be smaller than 128 UTF-8 chars'));
    // 128 exactly is allowed by both.
    c.inc({ exemplarLabels: { trace_id: 'a'.repeat(120) } });
  });

  for (const memory of [true, false]) {
    it(`${memory ? 'in memory' : 'in a directory'}: over the limit or a bad name throws and nothing is written`, async () => {
      configureStorage(memory ? {} : { directory: dir, processId: 'x1' });
      const registry = new ours.Registry(OM as never);
      const c = new ours.Counter({ name: 'c_total', help: 'c', enableExemplars: true, registers: [registry] });
      const h = new ours.Histogram({ name: 'h', help: 'h', buckets: [1], enableExemplars: true, registers: [registry] });
      expect(() => c.inc({ value: 5, exemplarLabels: tooLong })).toThrow(new RangeError('Label set size must be smaller than 128 UTF-8 chars'));
      expect(() => h.observe({ value: 0.5, exemplarLabels: tooLong })).toThrow(RangeError);
      expect(() => c.inc({ value: 5, exemplarLabels: { 'trace-id': 'x' } })).toThrow('Invalid exemplar label name: "trace-id"');
      expect(() => h.observe({ value: 0.5, exemplarLabels: { '0abc': 'x' } })).toThrow('Invalid exemplar label name: "0abc"');
      expect(() => c.inc({ exemplarLabels: { trace_id: {} as never } })).toThrow(TypeError);
      expect(() => c.inc({ exemplarLabels: null as never })).toThrow(TypeError);
      expect((await c.get()).values).toEqual([{ value: 0, labels: {} }]);
      expect(await registry.metrics()).not.toContain('#  {');
      expect(await registry.metrics()).toMatch(/^c_total 0$/m);
      expect(await registry.metrics()).toMatch(/^h_count 0$/m);
      if (!memory) {
        const file = path.join(dir, exemplarFileName('x1'));
        expect(fs.existsSync(file) ? readExemplarFile(file) : []).toEqual([]);
        // A valid one afterwards is written: the check above is not vacuous.
        c.inc({ value: 2, exemplarLabels: { trace_id: 'ok' } });
        expect(readExemplarFile(file).map((e) => [e.key.sampleName, e.labels, e.value])).toEqual([['c_total', 'trace_id="ok"', 2]]);
      }
    });
  }
});

describe('the exemplar file', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pm-exemplars-'));
    configureStorage({ directory: dir, processId: 'w1' });
  });
  afterEach(() => {
    configureStorage();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps one record per counter series and histogram bucket, the latest exemplar in each, escaped as OpenMetrics', () => {
    const registry = new ours.Registry(OM as never);
    const c = new ours.Counter({ name: 'req_total', help: 'r', labelNames: ['code'], enableExemplars: true, registers: [registry] });
    const h = new ours.Histogram({ name: 'lat', help: 'h', buckets: [0.1, 1], enableExemplars: true, registers: [registry] });
    for (let i = 0; i < 1000; i++) c.inc({ labels: { code: '200' }, exemplarLabels: { trace_id: `t${i}` } });
    c.inc({ labels: { code: '500' }, value: 3, exemplarLabels: { trace_id: 'q"\\\n', n: 7 } });
    h.observe({ value: 0.05, exemplarLabels: { trace_id: 'fast' } });
    h.observe({ value: 50, exemplarLabels: { trace_id: 'slow' } });
    const size = fs.statSync(path.join(dir, exemplarFileName('w1'))).size;
    const read = readExemplarFile(path.join(dir, exemplarFileName('w1')));
    expect(read.map((e) => [e.key.sampleName, e.key.labels, e.labels, e.value])).toEqual([
      ['req_total', { code: '200' }, 'trace_id="t999"', 1],
      ['req_total', { code: '500' }, 'trace_id="q\\"\\\\\\n",n="7"', 3],
      ['lat_bucket', { le: '0.1' }, 'trace_id="fast"', 0.05],
      ['lat_bucket', { le: '+Inf' }, 'trace_id="slow"', 50],
    ]);
    // A foreign or corrupt exemplar file is skipped and reported once; the others are served.
    fs.writeFileSync(path.join(dir, exemplarFileName('999')), Buffer.alloc(64, 0xff));
    const logged: string[] = [];
    const collector = new Collector({ directory: dir, log: (m) => logged.push(m) });
    return collector.scrape('openmetrics').then(async (scrape) => {
      expect(scrape.body).toMatch(/^req_total\{code="200"\} 1000\.0 # \{trace_id="t999"\} 1\.0 \d+/m);
      expect(logged).toEqual([expect.stringMatching(/skipped exemplars of \.prom-multiproc-exemplars-999: .*bad magic/)]);
      await collector.scrape('openmetrics');
      expect(logged).toHaveLength(1);
      // Fixed-size records: more exemplars do not grow the file.
    for (let i = 0; i < 1000; i++) c.inc({ labels: { code: '200' }, exemplarLabels: { trace_id: `u${i}` } });
      expect(fs.statSync(path.join(dir, exemplarFileName('w1'))).size).toBe(size);
    });
  });
});

describe('the bridge carries exemplars of prom-client metrics', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pm-exemplars-'));
  });
  afterEach(() => {
    configureStorage();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const source of ['getMetricsAsJSON', 'internals (exit flush)'] as const) {
    it(`from ${source}: counter and bucket exemplars reach the exemplar file and the collector's OpenMetrics`, async () => {
      const registry = new promClient.Registry(OM as never);
      const c = new promClient.Counter({ name: 'jobs_total', help: 'j', labelNames: ['kind'], enableExemplars: true, registers: [registry] });
      const h = new promClient.Histogram({ name: 'lat', help: 'h', buckets: [0.1, 1], enableExemplars: true, registers: [registry] });
      c.inc({ labels: { kind: 'a' }, value: 2, exemplarLabels: { trace_id: 'bridged-c' } });
      c.inc({ labels: { kind: 'b' } });
      h.observe({ value: 0.5, exemplarLabels: { trace_id: 'bridged-h' } });
      h.observe({ value: 7, exemplarLabels: { trace_id: 'bridged-inf' } });
      const writer = new SnapshotWriter(configureStorage({ directory: dir, processId: 'b1' }));
      const snapshots = source === 'getMetricsAsJSON'
        ? (await registry.getMetricsAsJSON()).map((m) => snapshotFromJson(m as never))
        : registry.getMetricsAsArray().map((m) => snapshotFromInternals(m));
      for (const s of snapshots) writer.write(s!);
      const body = (await new Collector({ directory: dir }).scrape('openmetrics')).body;
      expect(body).toMatch(/^jobs_total\{kind="a"\} 2\.0 # \{trace_id="bridged-c"\} 2\.0 \d+/m);
      expect(body).toMatch(/^jobs_total\{kind="b"\} 1\.0$/m);
      expect(body).toMatch(/^lat_bucket\{le="1\.0"\} 1\.0 # \{trace_id="bridged-h"\} 0\.5 \d+/m);
      expect(body).toMatch(/^lat_bucket\{le="\+Inf"\} 2\.0 # \{trace_id="bridged-inf"\} 7\.0 \d+/m);
      expect(body).toMatch(/^lat_bucket\{le="0\.1"\} 0\.0$/m);
      // Mirroring the same values again leaves the same exemplars.
      const file = path.join(dir, exemplarFileName('b1'));
      const before = readExemplarFile(file);
      for (const s of snapshots) writer.write(s!);
      expect(readExemplarFile(file)).toEqual(before);
    });
  }
});
