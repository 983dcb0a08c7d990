import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { allowUtf8Names, floatToGoString, encodeKey, decodeKey, readDbFile, CorruptFileError } from '../src/index.js';
import { compareCodePoints } from '../src/format/key.js';
import { parseDbFileName, dbFileName } from '../src/format/names.js';
import { FIXTURES, fixtureNames, readJson, replayOps, tempDir, type ManifestFile, type Ops } from './helpers/fixtures.js';

describe('floatToGoString', () => {
  it.each([
    [0, '0.0'], [-0, '-0.0'], [1, '1.0'], [0.1, '0.1'], [0.0001, '0.0001'], [1e-5, '1e-05'], [1.5e-7, '1.5e-07'],
    [123456, '123456.0'], [999999, '999999.0'], [1234567, '1.234567e+06'], [2000003.155, '2.000003155e+06'],
    [1e10, '1e+10'], [1e16, '1e+16'], [5e-324, '5e-324'], [1.7976931348623157e308, '1.7976931348623157e+308'],
    [-1234567, '-1234567.0'], [-2.5, '-2.5'], [Infinity, '+Inf'], [-Infinity, '-Inf'], [NaN, 'NaN'], [0.18000000000000002, '0.18000000000000002'],
  ])('formats %s as %s', (value, text) => {
    expect(floatToGoString(value)).toBe(text);
  });
});

describe('key codec', () => {
  it('writes Python json.dumps(sort_keys=True, ensure_ascii=True) bytes', () => {
    expect(encodeKey('http_requests', 'http_requests_total', [['code', '200'], ['method', 'GET']], 'Total HTTP requests.')).toBe(
      '["http_requests", "http_requests_total", {"code": "200", "method": "GET"}, "Total HTTP requests."]',
    );
    expect(encodeKey('e', 'e_total', [['v', 'ctl\u0001\u001f del\u007f']], 'Gr\u00f6\u00dfe \\ \n 😀 "/<>&\'\t\b\f\r')).toBe(
      '["e", "e_total", {"v": "ctl\\u0001\\u001f del\\u007f"}, "Gr\\u00f6\\u00dfe \\\\ \\n \\ud83d\\ude00 \\"/<>&\'\\t\\b\\f\\r"]',
    );
    expect(encodeKey('j', 'j_total', [], 'h')).toBe('["j", "j_total", {}, "h"]');
  });

  it('sorts by code point, not UTF-16 unit', () => {
    expect(compareCodePoints('\u{1F600}', '\uE000')).toBeGreaterThan(0);
    expect(compareCodePoints('\uE000', '\u{1F600}')).toBeLessThan(0);
    expect(compareCodePoints('a', 'b')).toBeLessThan(0);
    expect(compareCodePoints('ab', 'a')).toBeGreaterThan(0);
  });

  it('decodes keys of any JSON formatting and rejects the wrong shape', () => {
    expect(decodeKey('["a","a_total",{"k":"v"},"h"]')).toEqual({ metricName: 'a', sampleName: 'a_total', labels: { k: 'v' }, help: 'h' });
    expect(() => decodeKey('["a","b",{}]')).toThrow(/4-element/);
    expect(() => decodeKey('["a","b",{"k":1},"h"]')).toThrow(/label values are not strings/);
    expect(() => decodeKey('not json')).toThrow(/not valid JSON/);
  });
});

describe('file names', () => {
  it('round-trips every type and mode and rejects foreign names', () => {
    expect(parseDbFileName(dbFileName('gauge', '12', 'livesum'))).toEqual({ type: 'gauge', mode: 'livesum', id: '12' });
    expect(parseDbFileName(dbFileName('counter', '12t3'))).toEqual({ type: 'counter', id: '12t3' });
    expect(parseDbFileName('foo.db')).toBeNull();
    expect(parseDbFileName('gauge_weird_1.db')).toBeNull();
    expect(parseDbFileName('.counter_1.db')).toBeNull();
    expect(parseDbFileName('counter_1.txt')).toBeNull();
  });
});

const replayable = fixtureNames().filter((f) => fs.existsSync(path.join(FIXTURES, f, 'ops.json')));

describe('writer: replaying every fixture gives Python\'s bytes', () => {
  let dir: string;
  afterEach(() => {
    allowUtf8Names(false);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it.each(replayable)('%s', (fixture) => {
    dir = tempDir();
    if (fixture === 'utf8_names') allowUtf8Names();
    replayOps(readJson<Ops>(fixture, 'ops.json'), dir);
    const manifest = readJson<{ files: ManifestFile[] }>(fixture, 'manifest.json');
    // mark_process_dead deletes files the collector owns; the writer made them all.
    const expected = manifest.files.map((f) => f.name).sort();
    const written = fs.readdirSync(dir).sort();
    expect(written).toEqual(expect.arrayContaining(expected));
    for (const file of manifest.files) {
      const bytes = fs.readFileSync(path.join(dir, file.name));
      expect(bytes.length, file.name).toBe(file.original_size);
      expect(crypto.createHash('sha256').update(bytes.subarray(0, file.used)).digest('hex'), file.name).toBe(file.sha256_used_prefix);
      expect(bytes.subarray(file.used).every((b) => b === 0), `${file.name} is zero after used`).toBe(true);
    }
  });
});

interface EntryJson { offset: number; key_len: number; pad: number; value_offset: number; key: string; value: number; timestamp: number }

describe('reader', () => {
  const withEntries = fixtureNames().filter((f) => fs.existsSync(path.join(FIXTURES, f, 'entries.json')));

  it.each(withEntries)('reads %s exactly as entries.json says', (fixture) => {
    // Large files list only their first and last entries and a total.
    type Abbreviated = { entries_total: number; first: EntryJson[]; last: EntryJson[] };
    const expected = readJson<Record<string, EntryJson[] | Abbreviated>>(fixture, 'entries.json');
    for (const [file, entries] of Object.entries(expected)) {
      const got = readDbFile(path.join(FIXTURES, fixture, file)).map((e) => ({
        offset: e.offset, key_len: e.keyLength, pad: e.pad, value_offset: e.valueOffset, key: e.key, value: e.value, timestamp: e.timestamp,
      }));
      if (Array.isArray(entries)) {
        expect(got, file).toEqual(entries);
      } else {
        expect(got.length, file).toBe(entries.entries_total);
        expect(got.slice(0, entries.first.length), file).toEqual(entries.first);
        expect(got.slice(-entries.last.length), file).toEqual(entries.last);
      }
    }
  });

  it.each([
    ['error_corrupt_len', 'counter_1404.db', /runs past used/],
    ['error_old_format_v017', 'counter_1301.db', /runs past used/],
    ['old_format_single_entry', 'gauge_all_1301.db', /runs past used/],
    ['error_zero_size', 'counter_1403.db', /0 bytes, shorter than its 4-byte header/],
  ])('reports %s as a corrupt file naming the reason', (fixture, file, reason) => {
    const read = () => readDbFile(path.join(FIXTURES, fixture, file));
    expect(read).toThrow(CorruptFileError);
    expect(read).toThrow(reason);
  });

  it.each([['used_zero', 'counter_1402.db'], ['header_only', 'counter_1401.db']])('reads %s as empty', (fixture, file) => {
    expect(readDbFile(path.join(FIXTURES, fixture, file))).toEqual([]);
  });

  it('rejects a negative key length, bad UTF-8 and a used beyond the file', () => {
    const dir = tempDir();
    try {
      const write = (name: string, build: (b: Buffer) => void, size = 64) => {
        const b = Buffer.alloc(size);
        build(b);
        fs.writeFileSync(path.join(dir, name), b);
        return path.join(dir, name);
      };
      expect(() => readDbFile(write('neg.db', (b) => { b.writeInt32LE(40, 0); b.writeInt32LE(-5, 8); }))).toThrow(/negative key length/);
      expect(() => readDbFile(write('utf.db', (b) => { b.writeInt32LE(32, 0); b.writeInt32LE(3, 8); b[12] = 0xff; b[13] = 0xfe; b[14] = 0xfd; b[15] = 0x20; }))).toThrow(/not valid UTF-8/);
      expect(() => readDbFile(write('big.db', (b) => b.writeInt32LE(1000, 0)))).toThrow(/1000 bytes are used but the file has 64/);
      expect(() => readDbFile(write('json.db', (b) => { b.writeInt32LE(32, 0); b.writeInt32LE(3, 8); b.write('abc ', 12); }))).toThrow(/not valid JSON/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
