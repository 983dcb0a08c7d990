// The entry key: Python's json.dumps([metric, sample, labels, help], sort_keys=True)
// reproduced byte for byte (FORMAT.md §4.2), and a strict decoder for the reader.

/** Label pairs in key order: sorted by label name, by Unicode code point. */
export type LabelPairs = ReadonlyArray<readonly [string, string]>;

export interface DecodedKey {
  metricName: string;
  sampleName: string;
  labels: Record<string, string>;
  help: string;
}

const PLAIN_ASCII = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
const SHORT_ESCAPES: Record<number, string> = {
  0x22: '\\"',
  0x5c: '\\\\',
  0x08: '\\b',
  0x0c: '\\f',
  0x0a: '\\n',
  0x0d: '\\r',
  0x09: '\\t',
};

/** A JSON string literal as Python writes it with ensure_ascii=True. */
export function pythonJsonString(s: string): string {
  if (PLAIN_ASCII.test(s)) return `"${s}"`;
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const unit = s.charCodeAt(i);
    const short = SHORT_ESCAPES[unit];
    if (short !== undefined) out += short;
    else if (unit >= 0x20 && unit <= 0x7e) out += s[i];
    else out += '\\u' + unit.toString(16).padStart(4, '0');
  }
  return out + '"';
}

/**
 * Orders strings by code point, as Python's sort does (JS compares UTF-16 units, which
 * puts U+1F600, a surrogate pair, before U+E000..U+FFFF). A lone surrogate is its own
 * code point, as in a Python str.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; ) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    i += x > 0xffff ? 2 : 1;
  }
  return a.length - b.length;
}

/** Sorts label pairs into key order (in place) and returns them. */
export function sortLabelPairs<T extends readonly [string, string]>(pairs: T[]): T[] {
  return pairs.sort((p, q) => compareCodePoints(p[0], q[0]));
}

/** Encodes an entry key exactly as Python's writer does. `labels` must be sorted. */
export function encodeKey(metricName: string, sampleName: string, labels: LabelPairs, help: string): string {
  let obj = '{';
  for (let i = 0; i < labels.length; i++) {
    if (i > 0) obj += ', ';
    obj += pythonJsonString(labels[i][0]) + ': ' + pythonJsonString(labels[i][1]);
  }
  obj += '}';
  return `[${pythonJsonString(metricName)}, ${pythonJsonString(sampleName)}, ${obj}, ${pythonJsonString(help)}]`;
}

/** Thrown for a key that is not a 4-element [string, string, {string: string}, string] array. */
export class KeyFormatError extends Error {}

/**
 * Decodes a key. Accepts any JSON formatting (Python's reader only calls json.loads),
 * but insists on the shape, so a foreign file is reported instead of misread.
 */
export function decodeKey(text: string): DecodedKey {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new KeyFormatError('key is not valid JSON');
  }
  if (!Array.isArray(parsed) || parsed.length !== 4) {
    throw new KeyFormatError('key is not a 4-element JSON array');
  }
  const [metricName, sampleName, labels, help] = parsed as unknown[];
  if (typeof metricName !== 'string' || typeof sampleName !== 'string' || typeof help !== 'string') {
    throw new KeyFormatError('key names or help are not strings');
  }
  if (labels === null || typeof labels !== 'object' || Array.isArray(labels)) {
    throw new KeyFormatError('key labels are not an object');
  }
  for (const v of Object.values(labels)) {
    if (typeof v !== 'string') throw new KeyFormatError('key label values are not strings');
  }
  return { metricName, sampleName, labels: labels as Record<string, string>, help };
}
