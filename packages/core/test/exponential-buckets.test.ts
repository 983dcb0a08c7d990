import { describe, expect, it } from 'vitest';
import {
  bucketIndex, downscaleBuckets, downscaleIndex, mergeBuckets, quantileOfBuckets, relativeErrorBound, schemaForFactor,
  type ExponentialBuckets,
} from '../src/metrics/exponential-buckets.js';

const empty = (schema: number): ExponentialBuckets => ({ schema, zeroThreshold: 2 ** -128, zeroCount: 0, positive: new Map(), negative: new Map() });

describe('exponential bucket math', () => {
  it('picks the schema of a bucket factor as client_golang does', () => {
    expect(schemaForFactor(1.1)).toBe(3); // 2^(1/8) = 1.0905 <= 1.1 < 2^(1/4)
    expect(schemaForFactor(2)).toBe(0);
    expect(schemaForFactor(1.0905077326652577)).toBe(3);
    expect(schemaForFactor(1.0001)).toBe(8);
    expect(schemaForFactor(4)).toBe(-1);
    expect(schemaForFactor(1e300)).toBe(-4);
    for (const bad of [1, 0.5, NaN, Infinity, -2]) expect(() => schemaForFactor(bad)).toThrow(/nativeHistogramBucketFactor/);
  });

  it('puts an exact power of two at the upper edge of its bucket, at every schema', () => {
    for (let s = -4; s <= 8; s++) {
      for (const m of [-1074, -1030, -20, -3, -1, 0, 1, 2, 7, 100, 1023]) {
        const expected = s > 0 ? m * 2 ** s : Math.ceil(m / 2 ** -s) + 0;
        expect(bucketIndex(2 ** m, s), `2^${m} at schema ${s}`).toBe(expected);
        expect(bucketIndex(-(2 ** m), s)).toBe(expected);
      }
    }
  });

  it('puts any value v in the bucket i with 2^((i-1)/2^s) < v <= 2^(i/2^s)', () => {
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let n = 0; n < 20000; n++) {
      const v = Math.exp((random() - 0.5) * 80);
      const s = Math.floor(random() * 13) - 4;
      const i = bucketIndex(v, s);
      expect(2 ** ((i - 1) * 2 ** -s) < v && v <= 2 ** (i * 2 ** -s) * (1 + 1e-15), `${v} at schema ${s} -> ${i}`).toBe(true);
    }
  });

  it('finds the same bucket as a binary search over the mantissa bounds (as client_golang finds it), at every positive schema, at and around every bound', () => {
    // The reference: Go's math.Frexp and sort.SearchFloat64s, written out plainly.
    const view = new DataView(new ArrayBuffer(8));
    const reference = (v: number, schema: number): number => {
      let magnitude = Math.abs(v);
      let adjust = 0;
      if (magnitude < 2 ** -1022) {
        magnitude *= 2 ** 64;
        adjust = -64;
      }
      view.setFloat64(0, magnitude);
      const exp = ((view.getUint16(0) >>> 4) & 0x7ff) - 1022 + adjust;
      view.setUint16(0, (view.getUint16(0) & 0x800f) | (1022 << 4));
      const frac = view.getFloat64(0);
      const n = 2 ** schema;
      let lo = 0;
      let hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (2 ** (mid / n) / 2 < frac) lo = mid + 1;
        else hi = mid;
      }
      return lo + (exp - 1) * n;
    };
    const nextUp = (x: number) => {
      view.setFloat64(0, x);
      view.setBigUint64(0, view.getBigUint64(0) + BigInt(1));
      return view.getFloat64(0);
    };
    const nextDown = (x: number) => {
      view.setFloat64(0, x);
      view.setBigUint64(0, view.getBigUint64(0) - BigInt(1));
      return view.getFloat64(0);
    };
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    let checked = 0;
    for (let s = 1; s <= 8; s++) {
      const n = 2 ** s;
      const values: number[] = [];
      // Every bound, in several binades, and its neighbours: where a row of the lookup meets a bound.
      for (let j = 0; j < n; j++) {
        for (const e of [-1060, -30, 0, 1, 40, 1000]) {
          const bound = 2 ** (j / n) * 2 ** e;
          values.push(bound, nextUp(bound), nextDown(bound));
        }
      }
      // And the start of every row of 2^-11 in [0.5, 1) and its neighbours, and random values over the whole range.
      for (let k = 0; k < 1024; k++) {
        const start = 0.5 * (1 + k / 1024);
        values.push(start, nextUp(start), nextDown(start));
      }
      for (let r = 0; r < 20000; r++) values.push(Math.exp((random() - 0.5) * 1400) * (random() < 0.5 ? -1 : 1));
      for (const v of values) {
        if (!(Math.abs(v) > 0) || !Number.isFinite(v)) continue;
        expect(bucketIndex(v, s), `${v} at schema ${s}`).toBe(reference(v, s));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(8 * 20000);
  });

  it('puts ±Inf one bucket past ±MAX_VALUE', () => {
    for (const s of [-4, 0, 3, 8]) {
      expect(bucketIndex(Infinity, s)).toBe(bucketIndex(Number.MAX_VALUE, s) + 1);
      expect(bucketIndex(-Infinity, s)).toBe(bucketIndex(Number.MAX_VALUE, s) + 1);
    }
  });

  it('downscales an index to the bucket that contains it', () => {
    for (let s = 1; s <= 8; s++) {
      for (const v of [1e-9, 0.3, 0.5, 1, 1.5, 2, 3, 1000, 123456.789]) {
        for (let d = 0; d <= s + 4; d++) expect(downscaleIndex(bucketIndex(v, s), d)).toBe(bucketIndex(v, s - d));
      }
    }
  });

  it('merges different schemas at the lower one, summing counts, both sides and zero', () => {
    const fine = empty(3);
    const coarse = empty(1);
    const values = [0.001, 0.5, 1, 1.3, 2, 7, 7.5, 100, -0.2, -3, -3.5];
    const expected = empty(1);
    for (const v of values) {
      const side = (b: ExponentialBuckets) => (v < 0 ? b.negative : b.positive);
      for (const b of [fine, coarse, expected]) {
        const i = bucketIndex(v, b.schema);
        side(b).set(i, (side(b).get(i) ?? 0) + (b === expected ? 2 : 1));
      }
    }
    fine.zeroCount = 2;
    coarse.zeroCount = 1;
    expected.zeroCount = 3;
    mergeBuckets(fine, coarse);
    expect(fine.schema).toBe(1);
    expect(fine).toEqual(expected);
    const copy = empty(3);
    mergeBuckets(copy, empty(5));
    expect(copy.schema).toBe(3);
    downscaleBuckets(copy, 4);
    expect(copy.schema).toBe(3);
  });

  it('estimates quantiles within the schema bound of the nearest-rank observation', () => {
    const b = empty(5);
    const values: number[] = [];
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let n = 0; n < 5000; n++) {
      const v = n % 10 === 0 ? 0 : n % 7 === 0 ? -random() * 50 : Math.exp(random() * 10 - 5);
      values.push(v);
      if (v === 0) b.zeroCount++;
      else {
        const side = v < 0 ? b.negative : b.positive;
        const i = bucketIndex(v, 5);
        side.set(i, (side.get(i) ?? 0) + 1);
      }
    }
    values.sort((x, y) => x - y);
    for (const q of [0.01, 0.05, 0.1, 0.25, 0.5, 0.9, 0.99, 0.999, 1]) {
      const exact = values[Math.max(1, Math.ceil(q * values.length)) - 1];
      const estimate = quantileOfBuckets(b, q);
      if (exact === 0) expect(estimate).toBe(0);
      else expect(Math.abs(estimate - exact) / Math.abs(exact), `q=${q}`).toBeLessThanOrEqual(relativeErrorBound(5) + 1e-12);
    }
    expect(relativeErrorBound(5)).toBeLessThan(0.011);
    expect(quantileOfBuckets(empty(5), 0.5)).toBeNaN();
  });
});
