// Access to the golden fixtures written by Python's prometheus_client, and a replay of
// their ops.json through our metric classes.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Counter, Gauge, Histogram, Summary, clock, configureStorage, type GaugeMode } from '../../src/index.js';
import { flushWrittenFiles } from '../../src/format/written-memory.js';

export const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'python');

export function fixtureNames(): string[] {
  return fs.readdirSync(FIXTURES).sort();
}

export function readJson<T>(fixture: string, file: string): T {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, fixture, file), 'utf8')) as T;
}

export interface ManifestFile {
  name: string;
  original_size: number;
  used: number;
  sha256_used_prefix: string;
}

interface OpsMetric {
  type: 'counter' | 'gauge' | 'histogram' | 'summary';
  name: string;
  help: string;
  labelnames: string[];
  mode?: GaugeMode;
  buckets?: number[];
}
interface Op {
  metric: string;
  op: 'init' | 'inc' | 'dec' | 'set' | 'observe';
  value?: number;
  labels?: string[];
  time?: number;
}
export interface Ops {
  metrics: Record<string, OpsMetric>;
  processes: Array<{ pid: number; ops: Op[] }>;
}

/** Python's default buckets, which the fixtures used where ops.json names none. */
const PYTHON_DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

type AnySeries = Record<string, (v?: number) => void>;

/**
 * Replays a fixture's ops into `dir`, each fake process with its own process id. Like the
 * Python generator, a metric is constructed when an op first uses it (which fixes the
 * order of entries in the files).
 */
export function replayOps(ops: Ops, dir: string): void {
  const realNow = clock.now;
  try {
    for (const proc of ops.processes) {
      configureStorage({ directory: dir, processId: String(proc.pid) });
      const metrics = new Map<string, AnySeries & { labels(...v: string[]): AnySeries }>();
      const make = (id: string) => {
        const m = ops.metrics[id];
        const config = { name: m.name, help: m.help, labelNames: m.labelnames, registers: [] };
        switch (m.type) {
          case 'counter': return new Counter(config);
          case 'gauge': return new Gauge({ ...config, multiprocessMode: m.mode });
          case 'histogram': return new Histogram({ ...config, buckets: m.buckets ?? PYTHON_DEFAULT_BUCKETS });
          case 'summary': return new Summary(config);
        }
      };
      for (const op of proc.ops) {
        let metric = metrics.get(op.metric);
        if (!metric) metrics.set(op.metric, (metric = make(op.metric) as unknown as AnySeries & { labels(...v: string[]): AnySeries }));
        const target: AnySeries = op.labels ? metric.labels(...op.labels) : metric;
        if (op.time !== undefined) {
          const t = op.time;
          clock.now = () => t;
        }
        if (op.op !== 'init') target[op.op](op.value);
      }
    }
    flushWrites();
  } finally {
    clock.now = realNow;
    configureStorage();
  }
}

/**
 * Makes this process's updates visible in its files before a test reads them: nothing to
 * do for mmap; the write-back of the fallback (the suite also runs with PROM_MULTIPROC_STORAGE=fallback).
 */
export function flushWrites(): void {
  flushWrittenFiles();
}

/** The metrics files of a directory, sorted: a fallback writer's marker file aside. */
export function dbFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((name) => name.endsWith('.db')).sort();
}

/** A child's stderr without the one notice a fallback writer logs. */
export function stderrBesidesFallbackNotice(stderr: string): string {
  return stderr.split('\n').filter((line) => !line.startsWith('prom-multiproc: storage mode fallback')).join('\n');
}

export { tempDir } from './temp-dirs.js';
