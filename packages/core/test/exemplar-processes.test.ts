// Exemplars across real processes: no torn record is ever read while a writer rewrites it
// in a tight loop; the collector serves the newest exemplar of any process per series and
// bucket, in OpenMetrics only; a folded (dead) process's exemplars go with its files.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Collector } from '../src/index.js';
import { compactDeadProcesses } from '../src/collect/compaction.js';
import { exemplarFileName, readExemplarFile } from '../src/format/exemplar-file.js';
import { waitForLine } from './helpers/child-output.js';
import { tempDir } from './helpers/fixtures.js';
import { decodeFamilies } from './helpers/protobuf.js';
// @ts-expect-error: a plain .mjs helper
import { exemplarLabelsFor } from './helpers/exemplar-writer.mjs';

const WRITER = path.join(__dirname, 'helpers', 'exemplar-writer.mjs');
const children: ChildProcess[] = [];
let dir: string;

function startWriter(args: string[]): ChildProcess {
  const child = spawn(process.execPath, [WRITER, ...args], {
    env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return child;
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

beforeEach(() => {
  dir = tempDir();
});

afterEach(async () => {
  await Promise.all(children.splice(0).map(stop));
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('torn reads', () => {
  it('a reader reading continuously while a writer rewrites one record in a tight loop never sees a label set that was not written', async () => {
    const writer = startWriter(['tight']);
    await waitForLine(writer, /started/);
    const file = path.join(dir, exemplarFileName(String(writer.pid)));
    const seen = new Set<string>();
    let reads = 0;
    let skipped = 0;
    // Enough reads to overlap many writes (each read copies the record while the writer rewrites it).
    while (reads < 3000 || seen.size < 50) {
      const exemplars = readExemplarFile(file);
      reads++;
      if (exemplars.length === 0) {
        skipped++;
        continue;
      }
      expect(exemplars).toHaveLength(1);
      const [e] = exemplars;
      const n = Number(/(?:^|,)n="(\d+)"/.exec(e.labels)?.[1]);
      const labels = exemplarLabelsFor(n) as Record<string, string>;
      // The whole record is one write's: labels, value and sample.
      expect(e.labels).toBe(`trace_id="${labels.trace_id}",n="${n}"`);
      expect(e.value).toBe(n + 1);
      expect(e.key.sampleName).toBe('requests_total');
      seen.add(e.labels);
      if (reads > 200000) break;
    }
    expect(seen.size).toBeGreaterThanOrEqual(50);
    // A record rewritten during all of a read's retries is left out of that read (the
    // writer here rewrites it every few hundred nanoseconds); the others were all whole.
    expect(reads - skipped).toBeGreaterThanOrEqual(50);
  }, 120_000);
});

describe('the collector', () => {
  it('serves the newest exemplar of any process per counter series and histogram bucket, in OpenMetrics only; a folded process\'s exemplars are dropped', async () => {
    const collector = new Collector({ directory: dir });
    // In order, so each one's timestamp is later than the one before.
    const runs: Array<[string, string, string]> = [
      ['/a', 'trace-old-a', '0.05'],
      ['/b', 'trace-only-b', '0.5'],
      ['/a', 'trace-mid-a', '0.07'],
      ['/a', 'trace-new-a', '5'],
    ];
    const writers: ChildProcess[] = [];
    for (const args of runs) {
      const w = startWriter(['once', ...args]);
      await waitForLine(w, /done/);
      writers.push(w);
      await new Promise((r) => setTimeout(r, 5)); // timestamps are milliseconds
    }
    const om = (await collector.scrape('openmetrics')).body;
    const exemplarOf = (line: string) => om.split('\n').find((l) => l.startsWith(line))?.split(' # ')[1];
    expect(exemplarOf('requests_total{route="/a"} 3.0 ')).toMatch(/^\{trace_id="trace-new-a"\} 1\.0 \d+\.?\d*$/);
    expect(exemplarOf('requests_total{route="/b"} 1.0 ')).toMatch(/^\{trace_id="trace-only-b"\} 1\.0 /);
    // Bucket by bucket: le=0.1 last got trace-mid-a (0.07), +Inf got trace-new-a (5); le=1 only /b.
    expect(exemplarOf('latency_seconds_bucket{le="0.1",route="/a"} 2.0 ')).toMatch(/^\{trace_id="trace-mid-a"\} 0\.07 /);
    expect(exemplarOf('latency_seconds_bucket{le="1.0",route="/a"} 2.0 ')).toBeUndefined();
    expect(exemplarOf('latency_seconds_bucket{le="+Inf",route="/a"} 3.0 ')).toMatch(/^\{trace_id="trace-new-a"\} 5\.0 /);
    expect(exemplarOf('latency_seconds_bucket{le="1.0",route="/b"} 1.0 ')).toMatch(/^\{trace_id="trace-only-b"\} 0\.5 /);
    expect(om).not.toMatch(/_(sum|count)\{[^}]*\} \S+ #/);
    // Text 0.0.4 carries none.
    expect((await collector.scrape('text')).body).not.toContain('trace');
    // The protobuf exposition carries the same exemplars, on counters and buckets (+Inf written to carry its own).
    const families = decodeFamilies((await collector.scrapeProtobuf()).body);
    const routeOf = (m: any) => m.label.find((l: any) => l.name === 'route')?.value;
    const traceOf = (e: any) => e && `${e.label.map((l: any) => `${l.name}=${l.value}`).join(',')} ${e.value}`;
    const requests = families.find((f) => f.name === 'requests_total');
    expect(Object.fromEntries(requests.metric.map((m: any) => [routeOf(m), traceOf(m.counter.exemplar)])))
      .toEqual({ '/a': 'trace_id=trace-new-a 1', '/b': 'trace_id=trace-only-b 1' });
    const latencyA = families.find((f) => f.name === 'latency_seconds').metric.find((m: any) => routeOf(m) === '/a');
    const bucketTraces = Object.fromEntries(latencyA.histogram.bucket.map((b: any) => [String(b.upperBound), traceOf(b.exemplar)]));
    expect(bucketTraces['0.1']).toBe('trace_id=trace-mid-a 0.07');
    expect(bucketTraces['1']).toBeUndefined();
    expect(bucketTraces.Infinity).toBe('trace_id=trace-new-a 5');
    expect(requests.metric[0].counter.exemplar.timestamp.seconds).toBeGreaterThan(1_700_000_000);

    // The newest writer dies and is folded: its exemplar file goes with its .db files, the
    // counts stay, and the newest remaining exemplar is served.
    const last = writers[3];
    await stop(last);
    compactDeadProcesses(dir, [String(last.pid)]);
    expect(fs.existsSync(path.join(dir, exemplarFileName(String(last.pid))))).toBe(false);
    const after = (await collector.scrape('openmetrics')).body;
    expect(after).toMatch(/^requests_total\{route="\/a"\} 3\.0 # \{trace_id="trace-mid-a"\} 1\.0 /m);
    expect(after).toMatch(/^latency_seconds_bucket\{le="\+Inf",route="\/a"\} 3\.0$/m);
  }, 60_000);
});
