// Prometheus' exponential buckets (native histograms): at schema s, bucket i holds the
// values in (2^((i-1)·2^-s), 2^(i·2^-s)]; the negative side mirrors it; values with
// |v| <= the zero threshold go to the zero bucket. Buckets of two schemas merge by
// downscaling the finer one: bucket i at s becomes bucket ceil(i / 2^d) at s - d.
// Everything here is arithmetic on numbers: no allocation, usable on the hot path.

export const MIN_SCHEMA = -4;
export const MAX_SCHEMA = 8;
/** client_golang's default zero threshold, 2^-128. */
export const DEFAULT_ZERO_THRESHOLD = 2 ** -128;
/** client_golang's and prom-client's PR default for `nativeHistogramMaxBucketNumber`. */
export const DEFAULT_MAX_BUCKET_NUMBER = 160;

/**
 * The schema for a bucket factor, as client_golang picks it: the largest s whose bucket
 * growth 2^(2^-s) is at most `factor`, within [-4, 8].
 */
export function schemaForFactor(factor: number): number {
  if (typeof factor !== 'number' || !(factor > 1) || !Number.isFinite(factor)) {
    throw new Error(`nativeHistogramBucketFactor must be a finite number above 1, got ${String(factor)}`);
  }
  const floor = Math.floor(Math.log2(Math.log2(factor)));
  if (floor <= -MAX_SCHEMA) return MAX_SCHEMA;
  if (floor >= -MIN_SCHEMA) return MIN_SCHEMA;
  return 0 - floor;
}

/** Per positive schema, the 2^s mantissa bounds 2^(j·2^-s) / 2 in [0.5, 1). */
const MANTISSA_BOUNDS: Float64Array[] = [];
for (let s = 1; s <= MAX_SCHEMA; s++) {
  const n = 1 << s;
  const bounds = new Float64Array(n);
  for (let j = 0; j < n; j++) bounds[j] = 2 ** (j / n) / 2;
  MANTISSA_BOUNDS[s] = bounds;
}

/** Mantissa bits that pick a row of FIRST_BOUND_AT. */
const LOOKUP_BITS = 10;
/**
 * Per positive schema, for each run of mantissas sharing their top LOOKUP_BITS bits (rows
 * 2^-11 wide in [0.5, 1)), the first bound at or above the run's start: a mantissa's bound
 * is that one or the next (bounds are at least 2^-10 apart at schema 8), so a bucket index
 * costs a table load and a comparison or two, not a binary search of unpredictable branches.
 */
const FIRST_BOUND_AT: Uint16Array[] = [];
for (let s = 1; s <= MAX_SCHEMA; s++) {
  const bounds = MANTISSA_BOUNDS[s];
  const rows = new Uint16Array(1 << LOOKUP_BITS);
  let j = 0;
  for (let k = 0; k < rows.length; k++) {
    const start = 0.5 * (1 + k / rows.length);
    while (j < bounds.length && bounds[j] < start) j++;
    rows[k] = j;
  }
  FIRST_BOUND_AT[s] = rows;
}

const scratch = new Float64Array(1);
const scratchWords = new Uint32Array(scratch.buffer);
const HIGH = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
let frexpExponent = 0;
/** The top LOOKUP_BITS bits of the mantissa of the last frexp. */
let frexpTopBits = 0;

/** Go's math.Frexp for a finite v > 0: returns the mantissa in [0.5, 1) and sets `frexpExponent`. */
function frexp(v: number): number {
  let adjust = 0;
  if (v < 2.2250738585072014e-308) {
    v *= 2 ** 64; // subnormal: make it normal first
    adjust = -64;
  }
  scratch[0] = v;
  const high = scratchWords[HIGH];
  frexpExponent = ((high >>> 20) & 0x7ff) - 1022 + adjust;
  frexpTopBits = (high >>> (20 - LOOKUP_BITS)) & ((1 << LOOKUP_BITS) - 1);
  scratchWords[HIGH] = (high & 0x800fffff) | (1022 << 20);
  return scratch[0];
}

/**
 * The bucket index of |v| (v finite and above the zero threshold in magnitude) at `schema`;
 * ±Inf get the index after the one of ±Number.MAX_VALUE, as in client_golang.
 */
export function bucketIndex(v: number, schema: number): number {
  let magnitude = v < 0 ? -v : v;
  let infinite = 0;
  if (magnitude === Infinity) {
    magnitude = Number.MAX_VALUE;
    infinite = 1;
  }
  const frac = frexp(magnitude);
  const exp = frexpExponent;
  let key: number;
  if (schema > 0) {
    const bounds = MANTISSA_BOUNDS[schema];
    // First j with bounds[j] >= frac (what Go's sort.SearchFloat64s finds), from the first
    // bound at or above the start of frac's row.
    let lo = FIRST_BOUND_AT[schema][frexpTopBits];
    while (lo < bounds.length && bounds[lo] < frac) lo++;
    key = lo + (exp - 1) * bounds.length;
  } else {
    key = exp;
    if (frac === 0.5) key--;
    const shift = -schema;
    key = (key + (1 << shift) - 1) >> shift;
  }
  return key + infinite;
}

/** The index at `schema - delta` of bucket `index` at `schema` (delta >= 0): ceil(index / 2^delta). */
export function downscaleIndex(index: number, delta: number): number {
  return delta === 0 ? index : ((index - 1) >> delta) + 1;
}

/** Upper bound of bucket `index` at `schema` (positive side). */
export function bucketUpperBound(index: number, schema: number): number {
  return 2 ** (index * 2 ** -schema);
}

/** The relative error bound of a quantile estimated as a bucket's geometric middle: sqrt(2^(2^-s)) - 1. */
export function relativeErrorBound(schema: number): number {
  return 2 ** (2 ** -schema / 2) - 1;
}

/** Bucket counts of one series (or of a merge), at one schema. */
export interface ExponentialBuckets {
  schema: number;
  zeroThreshold: number;
  zeroCount: number;
  /** Bucket index -> count, positive and negative sides. */
  positive: Map<number, number>;
  negative: Map<number, number>;
}

/** Adds `from` into `into`, downscaling whichever is finer to the lower schema. */
export function mergeBuckets(into: ExponentialBuckets, from: ExponentialBuckets): void {
  if (from.schema < into.schema) downscaleBuckets(into, from.schema);
  const delta = from.schema - into.schema;
  into.zeroCount += from.zeroCount;
  if (from.zeroThreshold > into.zeroThreshold) into.zeroThreshold = from.zeroThreshold;
  for (const [i, c] of from.positive) addCount(into.positive, downscaleIndex(i, delta), c);
  for (const [i, c] of from.negative) addCount(into.negative, downscaleIndex(i, delta), c);
}

/** Lowers the schema of `b` to `schema` in place (no-op if it is not lower). */
export function downscaleBuckets(b: ExponentialBuckets, schema: number): void {
  const delta = b.schema - schema;
  if (delta <= 0) return;
  for (const side of [b.positive, b.negative]) {
    const old = [...side];
    side.clear();
    for (const [i, c] of old) addCount(side, downscaleIndex(i, delta), c);
  }
  b.schema = schema;
}

function addCount(side: Map<number, number>, index: number, count: number): void {
  side.set(index, (side.get(index) ?? 0) + count);
}

/**
 * The q-quantile (0 <= q <= 1) of the observations in `b`, as the geometric middle of the
 * bucket holding the observation of rank ceil(q·n) (nearest rank; the zero bucket is 0).
 * Its relative error against that observation is at most `relativeErrorBound(schema)`.
 * NaN when the buckets are empty.
 */
export function quantileOfBuckets(b: ExponentialBuckets, q: number): number {
  let total = b.zeroCount;
  for (const c of b.positive.values()) total += c;
  for (const c of b.negative.values()) total += c;
  if (!(total > 0)) return NaN;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  // Ascending order: most negative first (highest negative index), then zero, then positive.
  const negative = [...b.negative.keys()].sort((x, y) => y - x);
  for (const i of negative) {
    seen += b.negative.get(i)!;
    if (seen >= rank) return -middle(i, b.schema);
  }
  seen += b.zeroCount;
  if (seen >= rank) return 0;
  const positive = [...b.positive.keys()].sort((x, y) => x - y);
  for (const i of positive) {
    seen += b.positive.get(i)!;
    if (seen >= rank) return middle(i, b.schema);
  }
  return positive.length > 0 ? middle(positive[positive.length - 1], b.schema) : 0;
}

function middle(index: number, schema: number): number {
  return 2 ** ((index - 0.5) * 2 ** -schema);
}
