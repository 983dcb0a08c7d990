// Keys encoded straight into bytes (what the writer puts in its file) must be exactly
// Python's json.dumps([metric, sample, labels, help], sort_keys=True): checked against
// every key of the golden fixtures, against encodeKey, and against an independent
// reference encoder on fuzzed text (escapes, control characters, DEL, BMP and astral
// characters, lone surrogates).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareCodePoints, decodeKey, encodeKey } from '../src/format/key.js';
import { EncodedKey } from '../src/format/key-encoder.js';
import { FIXTURES, fixtureNames, readJson } from './helpers/fixtures.js';
import { seededRandom } from './helpers/seeded-random.js';

/**
 * Python's ensure_ascii string literal, built another way than ours: JSON.stringify's
 * literal (short escapes, \u00XX for other controls, lone surrogates as \udXXX), then
 * every unit outside ' '..'~' that is still raw as \uXXXX, as Python's ESCAPE_ASCII does.
 */
function reference(s: string): string {
  return JSON.stringify(s).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function referenceKey(metric: string, sample: string, pairs: Array<[string, string]>, help: string): string {
  const sorted = [...pairs].sort((p, q) => compareCodePoints(p[0], q[0]));
  return `[${reference(metric)}, ${reference(sample)}, {${sorted.map(([k, v]) => `${reference(k)}: ${reference(v)}`).join(', ')}}, ${reference(help)}]`;
}

const POOL = ['"', '\\', '\b', '\f', '\n', '\r', '\t', '\x00', '\x1f', '\x7f', '/', 'é', '\u2028', '日', '\ud800', '\udfff', '😀', '\uffff', '\ue000', 'a', 'Z', ' ', '{', '}'];

function fuzzText(next: () => number): string {
  let s = '';
  const n = Math.floor(next() * 12);
  for (let i = 0; i < n; i++) {
    const r = next();
    if (r < 0.5) s += POOL[Math.floor(next() * POOL.length)];
    else if (r < 0.8) s += String.fromCharCode(0x20 + Math.floor(next() * 95));
    else s += String.fromCharCode(Math.floor(next() * 0x10000));
  }
  return s;
}

const bytesOf = (key: EncodedKey) => Buffer.from(key.bytes.subarray(0, key.length));

describe('EncodedKey', () => {
  it('gives the bytes of every key in the Python fixtures, also with `le` passed as the extra pair', () => {
    let checked = 0;
    let withLe = 0;
    const key = new EncodedKey();
    for (const fixture of fixtureNames()) {
      const file = path.join(FIXTURES, fixture, 'entries.json');
      if (!fs.existsSync(file)) continue;
      // Per file, its entries; a large file lists its first and last ones only.
      type Entries = Array<{ key: string }>;
      const entries = readJson<Record<string, Entries | { first: Entries; last: Entries }>>(fixture, 'entries.json');
      for (const listed of Object.values(entries)) {
        const list = Array.isArray(listed) ? listed : [...listed.first, ...listed.last];
        for (const { key: text } of list) {
          const decoded = decodeKey(text);
          const pairs = Object.entries(decoded.labels).sort((p, q) => compareCodePoints(p[0], q[0]));
          const expected = Buffer.from(text, 'utf8');
          expect(bytesOf(key.encode(decoded.metricName, decoded.sampleName, pairs, decoded.help)), text).toEqual(expected);
          const le = decoded.labels.le;
          if (le !== undefined) {
            const others = pairs.filter(([name]) => name !== 'le');
            expect(bytesOf(key.encode(decoded.metricName, decoded.sampleName, others, decoded.help, 'le', le)), text).toEqual(expected);
            withLe++;
          }
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(100);
    expect(withLe).toBeGreaterThan(20);
  });

  it('equals encodeKey and a reference encoder on 5,000 fuzzed keys (escapes, unicode, lone surrogates), extra pair anywhere', () => {
    const next = seededRandom(0x2545f491);
    const key = new EncodedKey();
    for (let i = 0; i < 5000; i++) {
      const metric = fuzzText(next);
      const sample = fuzzText(next);
      const help = i % 50 === 0 ? fuzzText(next).repeat(200) : fuzzText(next); // long ones grow the buffer
      const names = new Set<string>();
      const pairs: Array<[string, string]> = [];
      const count = Math.floor(next() * 5);
      for (let p = 0; p < count; p++) {
        const name = fuzzText(next);
        if (names.has(name)) continue;
        names.add(name);
        pairs.push([name, fuzzText(next)]);
      }
      const sorted = [...pairs].sort((p, q) => compareCodePoints(p[0], q[0]));
      const expected = referenceKey(metric, sample, pairs, help);
      expect(encodeKey(metric, sample, sorted, help)).toBe(expected);
      expect(bytesOf(key.encode(metric, sample, sorted, help)).toString('latin1')).toBe(expected);
      if (sorted.length > 0) {
        // One pair given apart (as a histogram's `le`): the same key.
        const apart = Math.floor(next() * sorted.length);
        const rest = sorted.filter((_, j) => j !== apart);
        const [name, value] = sorted[apart];
        expect(bytesOf(key.encode(metric, sample, rest, help, name, value)).toString('latin1')).toBe(expected);
      }
    }
  });

  it('sorts label names by code point as Python does: astral characters after every BMP one', () => {
    // Python: sorted(['\U0001F600', 'a', '\ue000', '\ud800']) == ['a', '\ud800', '\ue000', '\U0001F600'].
    expect(['😀', 'a', '\ue000', '\ud800'].sort(compareCodePoints)).toEqual(['a', '\ud800', '\ue000', '😀']);
    const byCodePoints = (a: string, b: string) => {
      const x = Array.from(a, (c) => c.codePointAt(0)!);
      const y = Array.from(b, (c) => c.codePointAt(0)!);
      for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
      return x.length - y.length;
    };
    const next = seededRandom(0x9e3779b9);
    const names = Array.from({ length: 2000 }, () => fuzzText(next));
    expect([...names].sort(compareCodePoints)).toEqual([...names].sort(byCodePoints));
  });

  it('writes only ASCII, and setText gives a string key its UTF-8 bytes', () => {
    const key = new EncodedKey().encode('m', 'm_total', [['v', 'é😀\ud800']], 'h');
    expect(bytesOf(key).every((b) => b < 0x80)).toBe(true);
    expect(key.toString()).toBe('["m", "m_total", {"v": "\\u00e9\\ud83d\\ude00\\ud800"}, "h"]');
    expect(bytesOf(new EncodedKey().setText('é'))).toEqual(Buffer.from([0xc3, 0xa9]));
  });
});
