// Refreshing computed values in a worker: the collector's scrape prediction, the signal
// through the directory, `collect` callbacks and default metrics written to files.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Gauge, Registry, collectDefaultMetrics, configureStorage, readDbFile } from '../src/index.js';
import { RefreshScheduler, refreshLeadMs } from '../src/refresh/schedule.js';
import { REFRESH_SIGNAL_FILE, sendRefreshSignal, watchRefreshSignal } from '../src/refresh/signal.js';
import { workerRefresh } from '../src/refresh/worker-refresh.js';
import { tempDir } from './helpers/fixtures.js';

let dir: string;
beforeEach(() => {
  dir = tempDir();
});
afterEach(() => {
  workerRefresh()?.stop();
  configureStorage();
  vi.useRealTimers();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('RefreshScheduler predicts the next scrape from a steady period', () => {
  function scheduler() {
    vi.useFakeTimers();
    const sent: number[] = [];
    const s = new RefreshScheduler(dir, () => {
      sent.push(Date.now());
      return true;
    });
    return { s, sent };
  }

  it('after two equal gaps it signals `lead` before the next scrape is due, once per scrape', () => {
    const { s, sent } = scheduler();
    const t0 = Date.now();
    s.noteScrape();
    vi.advanceTimersByTime(15_000);
    s.noteScrape();
    vi.advanceTimersByTime(15_000);
    expect(sent).toEqual([]); // one gap is not a period yet
    s.noteScrape();
    expect(s.predictedPeriodMs).toBe(15_000);
    vi.advanceTimersByTime(15_000);
    expect(sent).toEqual([t0 + 45_000 - refreshLeadMs(15_000)]);
    vi.advanceTimersByTime(60_000); // no scrape came: no more signals
    expect(sent).toHaveLength(1);
  });

  it('gaps that disagree (two scrapers, a person with curl) or scrapes too close together predict nothing', () => {
    const { s, sent } = scheduler();
    for (const gap of [3_000, 12_000, 3_000, 12_000, 3_000]) {
      s.noteScrape();
      vi.advanceTimersByTime(gap);
    }
    for (let i = 0; i < 5; i++) {
      s.noteScrape();
      vi.advanceTimersByTime(100);
    }
    vi.advanceTimersByTime(60_000);
    expect(sent).toEqual([]);
  });

  it('the lead is 5% of the period, between 50 and 500 ms', () => {
    expect(refreshLeadMs(200)).toBe(50);
    expect(refreshLeadMs(4_000)).toBe(200);
    expect(refreshLeadMs(60_000)).toBe(500);
  });
});

describe('the refresh signal travels through the directory', () => {
  it('a watcher of the directory sees every signal and nothing else', async () => {
    let seen = 0;
    const stop = watchRefreshSignal(dir, () => seen++)!;
    try {
      fs.writeFileSync(path.join(dir, 'counter_1.db'), 'x');
      await new Promise((r) => setTimeout(r, 100));
      expect(seen).toBe(0);
      expect(sendRefreshSignal(dir)).toBe(true);
      const deadline = Date.now() + 5000;
      while (seen === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(seen).toBeGreaterThan(0);
      expect(fs.existsSync(path.join(dir, REFRESH_SIGNAL_FILE))).toBe(true);
    } finally {
      stop();
    }
  });

  it('a directory that is gone cannot be signalled or watched, and that is not an error', () => {
    expect(sendRefreshSignal(path.join(dir, 'missing'))).toBe(false);
    expect(watchRefreshSignal(path.join(dir, 'missing'), () => {})).toBeUndefined();
  });

  it('a worker refreshes its collect callbacks when signalled, well before its timer', async () => {
    configureStorage({ directory: dir, processId: '31' });
    let calls = 0;
    new Gauge({ name: 'queue_depth', help: 'q', registers: [], collect() { this.set(++calls); } });
    workerRefresh()!.add({ refresh: async () => {} }, 60_000); // the timer alone would take a minute
    sendRefreshSignal(dir);
    const deadline = Date.now() + 5000;
    while (calls === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(calls).toBeGreaterThan(0);
    expect(readDbFile(path.join(dir, 'gauge_livesum_31.db'))[0].value).toBe(calls);
  });
});

describe('default metrics in multiprocess mode', () => {
  it('are written to this process\'s files, each in the file of its merge mode', async () => {
    configureStorage({ directory: dir, processId: '41' });
    collectDefaultMetrics({ register: new Registry() });
    await workerRefresh()!.refresh();
    await new Promise((r) => setImmediate(r)); // the lag gauge is set on the next turn
    const samples = (file: string) => new Set(readDbFile(path.join(dir, file)).map((e) => e.sampleName));
    const counters = samples('counter_41.db');
    for (const name of ['process_cpu_user_seconds_total', 'process_cpu_system_seconds_total', 'process_cpu_seconds_total']) expect(counters).toContain(name);
    const summed = samples('gauge_livesum_41.db');
    for (const name of ['process_resident_memory_bytes', 'process_virtual_memory_bytes', 'process_heap_bytes', 'nodejs_heap_size_used_bytes',
      'nodejs_heap_space_size_used_bytes', 'nodejs_active_handles_total', 'nodejs_active_resources_total']) expect(summed).toContain(name);
    const max = samples('gauge_livemax_41.db');
    for (const name of ['nodejs_eventloop_lag_seconds', 'nodejs_eventloop_lag_max_seconds', 'nodejs_eventloop_lag_p99_seconds',
      'nodejs_eventloop_lag_mean_seconds', 'process_open_fds', 'process_start_time_seconds', 'nodejs_version_info']) expect(max).toContain(name);
    const min = samples('gauge_livemin_41.db');
    for (const name of ['nodejs_eventloop_lag_min_seconds', 'process_max_fds']) expect(min).toContain(name);
    const cpu = readDbFile(path.join(dir, 'counter_41.db')).find((e) => e.sampleName === 'process_cpu_seconds_total')!;
    expect(cpu.value).toBeGreaterThan(0);
  });
});
