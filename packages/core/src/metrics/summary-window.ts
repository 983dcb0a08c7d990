// A summary series' sliding window in multiprocess mode: a ring of `ageBuckets`
// generations of exponential bucket counts (schema 5: a quantile within 1.1 % of the
// observation of its rank), each stamped with its start, as entries of a side store
// (the process's `.summarywindow_<id>.db`). The collector sums the generations of every
// process that started within `maxAgeSeconds` and reads quantiles from the sum.
// Rotation reuses a generation's entries in place (zeroes them, stamps the new start):
// entries cannot be deleted, so the file stays the same size however often it rotates.
// Entry sample names:
//   `<name>:window`            maxAgeSeconds (0: no window, one generation for all time)
//   `<name>:quantile:<q>`      one per percentile to report (value q)
//   `<name>:g<k>:start`        generation k's start, ms since the epoch
//   `<name>:g<k>:zero`         its zero bucket
//   `<name>:g<k>:p:<index>`    its positive / negative buckets (`n:`) at SUMMARY_SCHEMA
import type { SeriesStore, ValueHolder } from '../format/mapped-file.js';
import { floatToGoString } from '../format/number.js';
import { DEFAULT_ZERO_THRESHOLD, bucketIndex } from './exponential-buckets.js';
import type { NativeKeyFor } from './native-buckets.js';

/** Schema of summary buckets: bucket growth 2^(1/32), quantile error at most 1.09 %. */
export const SUMMARY_SCHEMA = 5;

const WINDOW_ENTRY = /^(.*):(?:(window)|quantile:(.+)|g(\d+):(?:(start)|(zero)|([pn]):(-?\d+)))$/;

export type WindowEntry =
  | { family: string; what: 'window' }
  | { family: string; what: 'quantile'; quantile: number }
  | { family: string; what: 'start' | 'zero'; generation: number }
  | { family: string; what: 'bucket'; generation: number; negative: boolean; index: number };

/** What a summary window entry's sample name says, or null. */
export function parseWindowSampleName(sampleName: string): WindowEntry | null {
  const m = WINDOW_ENTRY.exec(sampleName);
  if (!m) return null;
  const family = m[1];
  if (m[2]) return { family, what: 'window' };
  if (m[3] !== undefined) return { family, what: 'quantile', quantile: Number(m[3]) };
  const generation = Number(m[4]);
  if (m[5]) return { family, what: 'start', generation };
  if (m[6]) return { family, what: 'zero', generation };
  return { family, what: 'bucket', generation, negative: m[7] === 'n', index: Number(m[8]) };
}

export class SummaryWindowWriter implements ValueHolder {
  values!: Float64Array;
  private current = 0;
  private readonly rotateEveryMs: number;
  private readonly startSlots: Int32Array;
  private readonly zeroSlots: Int32Array;
  /** Per generation: bucket index -> slot. */
  private readonly positive: Array<Map<number, number>>;
  private readonly negative: Array<Map<number, number>>;

  constructor(
    private readonly store: SeriesStore,
    private readonly name: string,
    private readonly keyFor: NativeKeyFor,
    maxAgeSeconds: number,
    ageBuckets: number,
    percentiles: readonly number[],
    /** Start time of the first generation (tests); by default now. */
    startedAt = Date.now(),
  ) {
    const windowed = maxAgeSeconds > 0 && ageBuckets > 0;
    const generations = windowed ? ageBuckets : 1;
    this.rotateEveryMs = windowed ? (maxAgeSeconds * 1000) / ageBuckets : Infinity;
    this.startSlots = new Int32Array(generations);
    this.zeroSlots = new Int32Array(generations);
    this.positive = Array.from({ length: generations }, () => new Map());
    this.negative = Array.from({ length: generations }, () => new Map());
    const windowSlot = store.slotFor(keyFor(`${name}:window`));
    const quantileSlots = percentiles.map((q) => store.slotFor(keyFor(`${name}:quantile:${floatToGoString(q)}`)));
    for (let g = 0; g < generations; g++) {
      this.startSlots[g] = store.slotFor(keyFor(`${name}:g${g}:start`));
      this.zeroSlots[g] = store.slotFor(keyFor(`${name}:g${g}:zero`));
    }
    store.attach(this);
    this.values[windowSlot] = windowed ? maxAgeSeconds : 0;
    percentiles.forEach((q, i) => (this.values[quantileSlots[i]] = q));
    // Continue the newest generation a file already has (same series again in this process).
    let newest = 0;
    for (let g = 1; g < generations; g++) if (this.values[this.startSlots[g]] > this.values[this.startSlots[newest]]) newest = g;
    this.current = newest;
    if (this.values[this.startSlots[newest]] === 0) this.values[this.startSlots[newest]] = startedAt;
    if (windowed) rotateOnTimer(this, this.rotateEveryMs);
  }

  /** Counts one observation in the current generation. No clock here: reading one allocates (Date.now() returns a boxed number). */
  observe(value: number): void {
    const g = this.current;
    if ((value < 0 ? -value : value) <= DEFAULT_ZERO_THRESHOLD) {
      this.values[this.zeroSlots[g]] += 1;
      return;
    }
    const negative = value < 0;
    const index = bucketIndex(value, SUMMARY_SCHEMA);
    const slot = (negative ? this.negative[g] : this.positive[g]).get(index);
    if (slot !== undefined) this.values[slot] += 1;
    else this.addBucket(g, negative, index);
  }

  /** First observation in a bucket of this generation: a new entry (kept apart so observe() stays small enough to inline). */
  private addBucket(g: number, negative: boolean, index: number): void {
    const slot = this.store.slotFor(this.keyFor(`${this.name}:g${g}:${negative ? 'n' : 'p'}:${index}`));
    (negative ? this.negative[g] : this.positive[g]).set(index, slot);
    this.values[slot] += 1;
  }

  /** Moves on by as many generations as have passed since the current one started (at most all of them), zeroing each reused one. */
  rotateIfDue(now: number): void {
    if (now - this.values[this.startSlots[this.current]] < this.rotateEveryMs) return;
    const generations = this.startSlots.length;
    const passed = Math.min(generations, Math.floor((now - this.values[this.startSlots[this.current]]) / this.rotateEveryMs));
    for (let k = 0; k < passed; k++) {
      this.current = (this.current + 1) % generations;
      this.clearGeneration(this.current);
      this.values[this.startSlots[this.current]] = now;
    }
  }

  private clearGeneration(g: number): void {
    const values = this.values;
    values[this.zeroSlots[g]] = 0;
    for (const slot of this.positive[g].values()) values[slot] = 0;
    for (const slot of this.negative[g].values()) values[slot] = 0;
  }

  zero(): void {
    for (let g = 0; g < this.startSlots.length; g++) this.clearGeneration(g);
  }
}

// Rotation runs on a timer (unref'd: it never keeps a process alive), a few times per
// rotation period of the fastest window, so observe() reads no clock.
const windows = new Set<SummaryWindowWriter>();
let timer: NodeJS.Timeout | undefined;
let timerPeriodMs = Infinity;

function rotateOnTimer(window: SummaryWindowWriter, rotateEveryMs: number): void {
  windows.add(window);
  const period = Math.min(1000, Math.max(20, rotateEveryMs / 4));
  if (period >= timerPeriodMs) return;
  if (timer) clearInterval(timer);
  timerPeriodMs = period;
  timer = setInterval(() => {
    const now = Date.now();
    for (const w of windows) w.rotateIfDue(now);
  }, period);
  timer.unref();
}
