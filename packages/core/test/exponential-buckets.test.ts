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
