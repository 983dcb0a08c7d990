// Python prometheus_client's floatToGoString (FORMAT.md §8.3): how values and `le`
// bounds are written, in keys and in the exposition.

export function floatToGoString(x: number): string {
  // Fast path, taken by most values of a scrape: where Python prints plain decimal
  // (1e-4 <= |x| < 1e6 for positives, < 1e16 for negatives), JS's String(x) prints the
  // same shortest round-trip digits in plain decimal too; integers lack only the ".0".
  const magnitude = x < 0 ? -x : x;
  if (magnitude >= 1e-4 && (x > 0 ? x < 1e6 : magnitude < 1e16)) {
    return Number.isInteger(x) ? `${x}.0` : String(x);
  }
  if (x === Infinity) return '+Inf';
  if (x === -Infinity) return '-Inf';
  if (Number.isNaN(x)) return 'NaN';
  const negative = x < 0 || Object.is(x, -0);
  // Shortest round-trip digits and the exponent of the first digit, as Python's repr uses.
  const sci = Math.abs(x).toExponential();
  const e = sci.indexOf('e');
  const mantissa = sci.slice(0, e);
  const exp = Number(sci.slice(e + 1));
  const sign = negative ? '-' : '';
  if (exp < -4 || exp >= 16) {
    return `${sign}${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (!negative && exp >= 6) return `${mantissa}e+${String(exp).padStart(2, '0')}`;
  const digits = mantissa.replace('.', '');
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const whole = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
  const frac = digits.slice(exp + 1);
  return `${sign}${whole}.${frac === '' ? '0' : frac}`;
}

/** The same number for the exposition: -0 is not 0 (`-0.0`), NaN is NaN. */
export const sameNumber = (a: number, b: number): boolean => (a === b ? a !== 0 || 1 / a === 1 / b : a !== a && b !== b);
