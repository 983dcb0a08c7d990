// One series' exponential bucket counts, kept as entries of a side store (the process's
// `.nativehistogram_<id>.db`, or memory). Entry sample names say what an entry is:
//   `<name>:zero`                     the zero bucket's count
//   `<name>:p:<schema>:<index>`       a positive bucket's count at that schema
//   `<name>:n:<schema>:<index>`       a negative bucket's count
// The schema is part of the key because entries cannot be deleted: lowering the schema
// (bucket limit passed) moves counts to new entries and leaves the old ones at zero, so a
// file holds at most one set of entries per schema between the configured one and -4.
import type { LabelPairs } from '../format/key.js';
import type { SeriesStore, ValueHolder } from '../format/mapped-file.js';
import {
  DEFAULT_ZERO_THRESHOLD, MIN_SCHEMA, bucketIndex, downscaleIndex, type ExponentialBuckets,
} from './exponential-buckets.js';

export type NativeKeyFor = (sampleName: string) => string;

const SIDE_ENTRY = /^(.*):(?:(zero)|([pn]):(-?\d+):(-?\d+))$/;

/** What a side entry's sample name says, or null for a name that is not one. */
export function parseNativeSampleName(sampleName: string): { family: string; zero: boolean; negative: boolean; schema: number; index: number } | null {
  const m = SIDE_ENTRY.exec(sampleName);
  if (!m) return null;
  if (m[2]) return { family: m[1], zero: true, negative: false, schema: 0, index: 0 };
  return { family: m[1], zero: false, negative: m[3] === 'n', schema: Number(m[4]), index: Number(m[5]) };
}

export class NativeBucketWriter implements ValueHolder {
  values!: Float64Array;
  schema: number;
  /** Bucket index -> slot, at the current schema. */
  private positive = new Map<number, number>();
  private negative = new Map<number, number>();
  private readonly zeroSlot: number;

  constructor(
    private readonly store: SeriesStore,
    private readonly name: string,
    private readonly keyFor: NativeKeyFor,
    schema: number,
    private readonly maxBuckets: number,
    readonly labels: LabelPairs,
  ) {
    this.schema = schema;
    this.zeroSlot = store.slotFor(keyFor(`${name}:zero`));
    store.attach(this);
  }

  /** Counts one observation; NaN goes to no bucket (client_golang: it counts in `_count` and `_sum` only). */
  observe(value: number): void {
    if (value !== value) return;
    if ((value < 0 ? -value : value) <= DEFAULT_ZERO_THRESHOLD) {
      this.values[this.zeroSlot] += 1;
      return;
    }
    const negative = value < 0;
    const side = negative ? this.negative : this.positive;
    const slot = side.get(bucketIndex(value, this.schema));
    if (slot !== undefined) this.values[slot] += 1;
    else this.addBucket(value, negative);
  }

  /** The first observation in a bucket: a new entry, and a lower schema if that passes the limit. */
  private addBucket(value: number, negative: boolean): void {
    const index = bucketIndex(value, this.schema);
    const side = negative ? this.negative : this.positive;
    const slot = this.store.slotFor(this.bucketKey(negative, this.schema, index));
    side.set(index, slot);
    this.values[slot] += 1;
    while (this.positive.size + this.negative.size > this.maxBuckets && this.schema > MIN_SCHEMA) this.downscale();
  }

  private bucketKey(negative: boolean, schema: number, index: number): string {
    return this.keyFor(`${this.name}:${negative ? 'n' : 'p'}:${schema}:${index}`);
  }

  /** Moves every count to the schema one lower; the old entries stay, at zero. */
  private downscale(): void {
    const schema = this.schema - 1;
    for (const negative of [false, true]) {
      const old = negative ? this.negative : this.positive;
      const lowered = new Map<number, number>();
      for (const [index, slot] of old) {
        const target = downscaleIndex(index, 1);
        let to = lowered.get(target);
        if (to === undefined) lowered.set(target, (to = this.store.slotFor(this.bucketKey(negative, schema, target))));
        // `values` may have moved (the file grew): read it after slotFor.
        const values = this.values;
        values[to] += values[slot];
        values[slot] = 0;
      }
      if (negative) this.negative = lowered;
      else this.positive = lowered;
    }
    this.schema = schema;
  }

  /** This series' counts (a copy). */
  snapshot(): ExponentialBuckets {
    const read = (side: Map<number, number>) => new Map([...side].map(([i, slot]) => [i, this.values[slot]] as [number, number]).filter(([, c]) => c !== 0));
    return {
      schema: this.schema,
      zeroThreshold: DEFAULT_ZERO_THRESHOLD,
      zeroCount: this.values[this.zeroSlot],
      positive: read(this.positive),
      negative: read(this.negative),
    };
  }

  zero(): void {
    this.values[this.zeroSlot] = 0;
    for (const slot of this.positive.values()) this.values[slot] = 0;
    for (const slot of this.negative.values()) this.values[slot] = 0;
  }
}
