// The collector finds keys by their bytes (collect/byte-tables.ts) and decodes keys of the
// common shape in place (format/key-bytes.ts). JSON.parse is the reference: whatever a
// key's bytes are, the preparation must say what JSON.parse of the key says.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeKey } from '../src/format/key.js';
import { PlainKeyFields } from '../src/format/key-bytes.js';
import { buildFileImage } from '../src/format/file-image.js';
import { ByteKeyTable } from '../src/collect/byte-tables.js';
import { labelsText, metricName, samplePrefix, sortedPairs, unexposableLabels } from '../src/collect/exposition.js';
import { floatToGoString } from '../src/format/number.js';
import { KeyCache, parsePythonFloat } from '../src/collect/prepared-keys.js';
import { DirectoryMerger } from '../src/collect/merge.js';
import { renderText } from '../src/collect/exposition.js';
import { readDbFile } from '../src/format/reader.js';
import { loadMmap } from '../src/format/mmap.js';
import { tempDir } from './helpers/fixtures.js';
import { seededRandom } from './helpers/seeded-random.js';

const PIECES = [
  'a', 'b', 'z', 'A', '_', ':', '0', '9', '.', ' ', '-', '/', '{', '}', '[', ']', ',', ':', '=',
  '"', '\\', '\n', '\t', '\u0000', '\u001f', '\u007f', '\u0080', '\u00e9', '\u00ff', '\u0100', '\u2028', '\ud7ff', '\ue000',
  '\u{1F600}', '\ud800', '\udfff', 'le', 'pid', '__proto__', 'constructor', '1', '10', '',
];

function text(next: () => number, plain: boolean): string {
  const n = Math.floor(next() * 6);
  let s = '';
  for (let i = 0; i < n; i++) s += plain ? 'abcxyz_09:./ {}[],'[Math.floor(next() * 19)] : PIECES[Math.floor(next() * PIECES.length)];
  return s;
}

/** Label names with meaning for the merge or the exposition (`__name__` is reserved; `a-b`, `a.b` and `a_b` are one name once escaped). */
const LABEL_NAMES = ['le', 'pid', '1', '10', 'a', '__proto__', '__name__', 'a-b', 'a.b', 'a_b', 'quantile'];

/** A key as Python writes it (sorted, ", " and ": "), or one of the other spellings JSON allows. */
function fuzzKey(next: () => number): string {
  const plain = next() < 0.5;
  const labels: Array<[string, string]> = [];
  const count = Math.floor(next() * 5);
  for (let i = 0; i < count; i++) labels.push([next() < 0.3 ? LABEL_NAMES[Math.floor(next() * LABEL_NAMES.length)] : text(next, plain), text(next, plain)]);
  const metric = text(next, plain);
  const sample = text(next, plain);
  const help = text(next, plain);
  const shape = next();
  if (shape < 0.6) {
    // Python's own shape: names sorted and distinct (json.dumps of a dict).
    const distinct = new Map(labels);
    return encodeKey(metric, sample, sortedPairs(Object.fromEntries(distinct)), help);
  }
  if (shape < 0.75) return encodeKey(metric, sample, labels, help); // unsorted, maybe repeated names
  if (shape < 0.9) return JSON.stringify([metric, sample, Object.fromEntries(labels), help]); // compact spacing
  // Hand-spelled JSON: repeated names in the text, odd spacing, escaped plain characters.
  const body = labels.map(([k, v]) => `${JSON.stringify(k)} :${JSON.stringify(v).replace(/a/g, '\\u0061')}`).join(' ,');
  return `[ ${JSON.stringify(metric)},${JSON.stringify(sample)} , {${body}}, ${JSON.stringify(help)} ]`;
}

/** What JSON.parse says a key means, in the form the merge uses. */
function reference(key: string): { metricName: string; sampleName: string; help: string; pairs: Array<[string, string]> } {
  const [metricName, sampleName, labels, help] = JSON.parse(key) as [string, string, Record<string, string>, string];
  return { metricName, sampleName, help, pairs: sortedPairs(labels) };
}

describe('keys read as bytes', () => {
  it('the in-place decoder finds exactly what JSON.parse finds, or declines the key', () => {
    const next = seededRandom(15);
    const fields = new PlainKeyFields();
    let plain = 0;
    for (let n = 0; n < 20_000; n++) {
      const key = fuzzKey(next);
      const buf = Buffer.from(key, 'utf8');
      if (!fields.scan(buf, 0, buf.length)) continue;
      plain++;
      const at = fields.at;
      const s = (slot: number) => buf.toString('latin1', at[slot], at[slot + 1]);
      const pairs: Array<[string, string]> = [];
      for (let i = 0; i < fields.labels; i++) pairs.push([s(6 + 4 * i), s(8 + 4 * i)]);
      expect({ metricName: s(0), sampleName: s(2), help: s(4), pairs }, key).toEqual(reference(key));
    }
    // The fuzz reaches the in-place path often, and not always.
    expect(plain).toBeGreaterThan(3_000);
    expect(plain).toBeLessThan(20_000);
  });

  it('declines what only JSON.parse may decide: escapes, non-ASCII, other spacing, unsorted or repeated labels', () => {
    const fields = new PlainKeyFields();
    const scan = (key: string) => {
      const buf = Buffer.from(key, 'utf8');
      return fields.scan(buf, 0, buf.length);
    };
    expect(scan('["m", "m_total", {"a": "1", "b": "2"}, "h"]')).toBe(true);
    expect(scan('["m", "m_total", {}, ""]')).toBe(true);
    expect(scan('["m", "m_total", {"a": "\\u0031"}, "h"]')).toBe(false);
    expect(scan('["m", "m_total", {"a": "\u00e9"}, "h"]')).toBe(false);
    expect(scan('["m","m_total",{"a":"1"},"h"]')).toBe(false);
    expect(scan('["m", "m_total", {"b": "1", "a": "2"}, "h"]')).toBe(false);
    expect(scan('["m", "m_total", {"a": "1", "a": "2"}, "h"]')).toBe(false);
    expect(scan('["m", "m_total", {"a": "1"}, "h"] ')).toBe(false);
    expect(scan('["m", "m_total", {"a": "1"}, "h", "x"]')).toBe(false);
    expect(scan('["m", "m_total", {"a": 1}, "h"]')).toBe(false);
    expect(scan('["m", "m_total", {"a": "1"')).toBe(false);
  });

  it.runIf((process.env.PROM_MULTIPROC_STORAGE ?? '') !== 'fallback' && loadMmap()?.walkKeys !== undefined)(
    "the addon's walk finds a new key's fields exactly where the in-place decoder does, or declines the same keys",
    () => {
      const next = seededRandom(0x5eed);
      const keys: Buffer[] = [];
      for (let n = 0; n < 6_000; n++) {
        const key = Buffer.from(fuzzKey(next), 'utf8');
        const roll = next();
        // Also keys cut short, one byte changed, and plain ones with many labels (the addon takes up to 32).
        if (roll < 0.1 && key.length > 1) keys.push(key.subarray(0, Math.floor(next() * key.length)));
        else if (roll < 0.2 && key.length > 0) {
          key[Math.floor(next() * key.length)] = [0x22, 0x2c, 0x20, 0x3a, 0x7b, 0x7d, 0x5b, 0x5d, 0x5c, 0x7f][Math.floor(next() * 10)];
          keys.push(key);
        } else if (roll < 0.23) {
          const count = 28 + Math.floor(next() * 8);
          keys.push(Buffer.from(encodeKey('m', 'm', Array.from({ length: count }, (_, i) => [`l${String(i).padStart(2, '0')}`, String(i)] as [string, string]), 'h')));
        } else keys.push(key);
      }
      // One window of entries (length, key, padding, value, timestamp), walked with an empty table: every key is new.
      const entries = keys.map((key) => {
        const entry = Buffer.alloc(4 + key.length + (8 - ((key.length + 4) % 8)) + 16, 0x20);
        entry.writeInt32LE(key.length, 0);
        key.copy(entry, 4);
        return entry;
      });
      const buf = Buffer.concat(entries);
      const table = new ByteKeyTable<number>();
      const out = new Int32Array(5 * 512);
      const fieldsOut = new Int32Array(8 * 1024);
      const fields = new PlainKeyFields();
      let walked = 0;
      let plain = 0;
      let declinedMany = 0;
      for (let pos = 0; pos < buf.length;) {
        const n = table.walk(buf, pos, buf.length, 0, buf.length, out, fieldsOut);
        expect(n).toBeGreaterThan(0);
        for (let e = 0; e < n; e++, walked++) {
          const [start, length, slot, , at] = out.subarray(5 * e, 5 * e + 5);
          expect(slot).toBe(-1);
          const scanned = fields.scan(buf, start, start + length);
          const key = buf.toString('latin1', start, start + length);
          if (at < 0) {
            // Declined: by the JavaScript scan too, unless it has more labels than the addon takes.
            if (scanned) {
              expect(fields.labels, key).toBeGreaterThan(32);
              declinedMany++;
            }
            continue;
          }
          plain++;
          expect(scanned, key).toBe(true);
          const labels = fieldsOut[at];
          expect(labels).toBe(fields.labels);
          expect([...fieldsOut.subarray(at + 1, at + 1 + 2 * (3 + 2 * labels))], key).toEqual([...fields.at.subarray(0, 2 * (3 + 2 * labels))]);
          pos = start + length + (8 - ((length + 4) % 8)) + 16;
        }
        pos = out[5 * (n - 1)] + out[5 * (n - 1) + 1];
        pos += 8 - ((out[5 * (n - 1) + 1] + 4) % 8) + 16;
      }
      expect(walked).toBe(keys.length);
      expect(plain).toBeGreaterThan(1_000);
      expect(declinedMany).toBeGreaterThan(10);
    },
  );

  it('a prepared key says what JSON.parse says, whichever path decoded it', () => {
    const next = seededRandom(7);
    const keys = new KeyCache();
    for (let n = 0; n < 5_000; n++) {
      const key = fuzzKey(next);
      let expected: ReturnType<typeof reference>;
      try {
        expected = reference(key);
      } catch {
        continue;
      }
      // Lone surrogates do not survive UTF-8; the file would hold U+FFFD (as Python's reader sees it).
      if (/[\ud800-\udfff]/.test(JSON.stringify(JSON.parse(key)))) continue;
      const p = keys.prepared(key);
      expect({ metricName: p.metricName, sampleName: p.sampleName, help: p.help, pairs: p.labels.pairs.map((q) => [...q]) }, key).toEqual(expected);
      // What the exposition makes of those labels, found once per label set: the same as from the pairs.
      expect(p.labels.problem, key).toBe(unexposableLabels(expected.pairs));
      expect(p.labels.text, key).toBe(labelsText(expected.pairs));
      expect(metricName(p.sampleName) + p.labels.text, key).toBe(samplePrefix(p.sampleName, expected.pairs));
      if (p.bucket) {
        // A bucket is labelled with its `le` as Go formats the bound (Python's float() of the text).
        const le = expected.pairs.find((q) => q[0] === 'le')![1];
        const bound = parsePythonFloat(le);
        expect(p.bucket.bound, key).toBe(bound ?? NaN);
        const relabelled = expected.pairs.map(([k, v]): [string, string] => [k, k === 'le' ? floatToGoString(bound ?? NaN) : v]);
        expect(p.bucket.labels.pairs.map((q) => [...q]), key).toEqual(relabelled);
        expect(metricName('b_bucket') + p.bucket.labels.text, key).toBe(samplePrefix('b_bucket', relabelled));
        expect(p.bucket.series.pairs.map((q) => [...q]), key).toEqual(expected.pairs.filter((q) => q[0] !== 'le'));
      }
      // Seen again (from other bytes, at another alignment): the same preparation.
      const padded = Buffer.concat([Buffer.from('xyz'), Buffer.from(key, 'utf8')]);
      expect(keys.preparedAt(padded, 3, padded.length)).toBe(p);
    }
  });

  it('one LabelSet per label set, also after keys are dropped and seen again', () => {
    const keys = new KeyCache();
    const sum = keys.prepared(encodeKey('h', 'h_sum', [['route', '/a']], 'x'));
    const bucket = keys.prepared(encodeKey('h', 'h_bucket', [['le', '0.5'], ['route', '/a']], 'x'));
    const other = keys.prepared(encodeKey('h', 'h_sum', [['route', '/b']], 'x'));
    expect(bucket.bucket!.series).toBe(sum.labels);
    expect(bucket.bucket!.bound).toBe(0.5);
    expect(other.labels).not.toBe(sum.labels);
    // Another histogram's bucket with the same labels shares the bucket entry; another bound, or the same bound written otherwise, does not.
    const sameLabels = keys.prepared(encodeKey('g', 'g_bucket', [['le', '0.5'], ['route', '/a']], 'y'));
    expect(sameLabels.bucket).toBe(bucket.bucket);
    const one = keys.prepared(encodeKey('h', 'h_bucket', [['le', '1'], ['route', '/a']], 'x'));
    const oneAgain = keys.prepared(encodeKey('h', 'h_bucket', [['le', '1.0'], ['route', '/a']], 'x'));
    expect(one.bucket).not.toBe(oneAgain.bucket);
    expect([one.bucket!.bound, oneAgain.bucket!.bound]).toEqual([1, 1]);
    expect(one.bucket!.series).toBe(sum.labels);
    expect(one.bucket!.labels.text).toBe('{le="1.0",route="/a"} ');
    expect(oneAgain.bucket!.labels).toBe(oneAgain.labels);
    expect(oneAgain.bucket!.labels.text).toBe('{le="1.0",route="/a"} ');
    expect(bucket.bucket!.labels.text).toBe('{le="0.5",route="/a"} ');
    // Only the bucket key stays in use: its series (the set of h_sum) must stay the one label set.
    keys.noteDropped();
    keys.retain([[bucket]]);
    const again = keys.prepared(encodeKey('h', 'h_count', [['route', '/a']], 'x'));
    expect(again.labels).toBe(bucket.bucket!.series);
    const otherAgain = keys.prepared(encodeKey('h', 'h_sum', [['route', '/b']], 'x'));
    expect(otherAgain.labels).not.toBe(again.labels);
    expect(otherAgain.labels.pairs).toEqual([['route', '/b']]);
  });

  it("a label set's text and a sample name's make the line's prefix, for any name and none", () => {
    const keys = new KeyCache();
    const shared = keys.prepared(encodeKey('m0', 'm0_total', [['b', 'x"y'], ['a', '1']], 'h')).labels;
    const none = keys.prepared(encodeKey('n0', 'n0_total', [], 'h')).labels;
    const names = Array.from({ length: 30 }, (_, i) => `m${i}_total`).concat(['m.dotted_total', 'm0_total']);
    for (const set of [shared, none]) for (const name of names) expect(metricName(name) + set.text).toBe(samplePrefix(name, set.pairs));
    expect(shared.text).toBe('{a="1",b="x\\"y"} ');
    expect(metricName('m.dotted_total') + none.text).toBe('m_dotted_total ');
    expect(keys.prepared(encodeKey('m9', 'm9_total', [['a', '1'], ['b', 'x"y']], 'h')).labels).toBe(shared);
  });

  it('a key is found only by equal bytes: not by its length, its hash slot or the key expected next', () => {
    const table = new ByteKeyTable<string>();
    const buf = (s: string) => Buffer.from(s, 'latin1');
    const put = (s: string) => table.add(buf(s), 0, s.length, s);
    const get = (s: string) => table.get(buf(s), 0, s.length);
    // Keys of one length that differ in one byte, in the words and in the tail.
    const keys = ['key-000000-a', 'key-000001-a', 'key-000000-b', 'key-0000000a', 'key-0000000ab'];
    for (const k of keys) put(k);
    // The expected-next key after keys[0] is keys[1] (same length): a different key must not match it.
    expect(get('key-000000-a')).toBe('key-000000-a');
    expect(get('key-000002-a')).toBeUndefined();
    expect(get('key-000000-a')).toBe('key-000000-a');
    expect(get('key-000001-b')).toBeUndefined();
    for (const k of keys) expect(get(k)).toBe(k);
    // Many keys (the table grows, the arena spills into new chunks), and a key longer than a chunk.
    const long = 'L'.repeat(1024 * 1024 + 5);
    put(long);
    for (let i = 0; i < 20_000; i++) put(`series-${i}-${'x'.repeat(i % 97)}`);
    for (let i = 0; i < 20_000; i += 7) expect(get(`series-${i}-${'x'.repeat(i % 97)}`)).toBe(`series-${i}-${'x'.repeat(i % 97)}`);
    expect(get(long)).toBe(long);
    expect(get(`${long.slice(1)}M`)).toBeUndefined();
    table.retain((v) => v.startsWith('series-1'));
    expect(get('series-1-x')).toBe('series-1-x');
    expect(get('series-2-xx')).toBeUndefined();
    expect(get(long)).toBeUndefined();
  });
});

describe('a collector reading keys as bytes', () => {
  const entry = (key: string, value: number) => ({ key, value, timestamp: 0 });

  it('reports a file whose key is a known key with one byte changed to invalid UTF-8 as corrupt, and merges the rest', () => {
    const dir = tempDir();
    const key = encodeKey('c', 'c_total', [['route', '/r\u00e9']], 'h');
    fs.writeFileSync(path.join(dir, 'counter_1.db'), buildFileImage([entry(key, 2)]));
    const bad = buildFileImage([entry(key, 3)]);
    const at = bad.indexOf(Buffer.from('\\u00e9')) >= 0 ? bad.indexOf(Buffer.from('\\u00e9')) : bad.indexOf(Buffer.from('/r')) + 2;
    bad[at] = 0xff;
    fs.writeFileSync(path.join(dir, 'counter_2.db'), bad);
    const merged = new DirectoryMerger(dir).merge();
    expect(merged.problems).toEqual([expect.objectContaining({ file: 'counter_2.db', problem: 'corrupt' })]);
    expect(merged.problems[0].reason).toMatch(/key at offset 8: /);
    expect(renderText(merged.families)).toContain('c_total{route="/r\u00e9"} 2.0\n');
  });

  it('merges keys written in other spellings (escaped, compact, unsorted) as JSON.parse reads them', () => {
    const dir = tempDir();
    const python = encodeKey('c', 'c_total', [['a', 'x'], ['b', 'y']], 'h');
    fs.writeFileSync(path.join(dir, 'counter_1.db'), buildFileImage([entry(python, 1)]));
    fs.writeFileSync(path.join(dir, 'counter_2.db'), buildFileImage([
      entry('["c","c_total",{"b":"y","a":"x"},"h"]', 10),
      entry('["c", "c_total", {"a": "\\u0078", "b": "y"}, "h"]', 100),
      entry('["c", "c_total", {"a": "z", "a": "x", "b": "y"}, "h"]', 1000),
    ]));
    const merged = new DirectoryMerger(dir).merge();
    expect(merged.problems).toEqual([]);
    expect(renderText(merged.families)).toContain('c_total{a="x",b="y"} 1111.0\n');
  });

  it('a file with damaged key bytes is corrupt for the collector exactly when it is for the string reader, and never crashes a merge', () => {
    const dir = tempDir();
    const next = seededRandom(99);
    const keys = [
      encodeKey('h', 'h_bucket', [['le', '0.5'], ['route', '/a']], 'help'),
      encodeKey('h', 'h_sum', [['route', '/a']], 'help'),
      encodeKey('c', 'c_total', [['a', 'x'], ['b', 'y\u00e9']], 'h\n'),
    ];
    const good = buildFileImage(keys.map((k, i) => entry(k, i + 1)));
    const merger = new DirectoryMerger(dir);
    fs.writeFileSync(path.join(dir, 'counter_1.db'), good);
    for (let n = 0; n < 400; n++) {
      // A new name each time: the reader takes a file of the same inode and size as unchanged (workers only append).
      const name = `counter_${n + 2}.db`;
      const damaged = path.join(dir, name);
      const image = Buffer.from(good);
      // Damage one to three bytes inside the keys (never the lengths): the keys of a known
      // file, seen by the same collector, are where a byte-level lookup could be fooled.
      for (let d = 1 + Math.floor(next() * 3); d > 0; d--) {
        let pos = 8;
        for (let e = Math.floor(next() * keys.length); e > 0; e--) pos += 4 + image.readInt32LE(pos) + (8 - ((image.readInt32LE(pos) + 4) % 8)) + 16;
        const length = image.readInt32LE(pos);
        const values = [0x22, 0x5c, 0x7b, 0x7d, 0x2c, 0x20, 0x3a, 0x5b, 0x5d, 0x80, 0xc3, 0xff, 0x00, 0x61, 0x7a];
        image[pos + 4 + Math.floor(next() * length)] = values[Math.floor(next() * values.length)];
      }
      fs.writeFileSync(damaged, image);
      let corrupt = false;
      try {
        readDbFile(damaged);
      } catch {
        corrupt = true;
      }
      // A fresh merger (every key new) and the long-lived one (the good keys known).
      for (const m of [new DirectoryMerger(dir), merger]) {
        const result = m.merge();
        // Entry-level problems (a damaged name that collides, say) are fine; the file-level verdict must agree.
        const verdict = result.problems.some((p) => p.file === name && p.problem === 'corrupt');
        expect(verdict, JSON.stringify(image.subarray(8, good.readInt32LE(0)).toString('latin1'))).toBe(corrupt);
        expect(result.problems.filter((p) => p.file === 'counter_1.db' && p.problem === 'corrupt')).toEqual([]);
      }
      fs.rmSync(damaged);
    }
  });
});

