// A window's known keys found in one call to the addon (native/mmap.c walkKeys, through
// ByteKeyTable.walk and the reader's KnownKeyMatcher): it must walk the entries exactly as
// the JavaScript walk does (format/entries.ts), stop where that walk would stop or throw,
// and find a key only where ByteKeyTable.get finds the same value: keys one byte apart,
// of every length, cut short, garbage, a file changed between two windows of one read.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ByteKeyTable } from '../src/collect/byte-tables.js';
import { CorruptFileError, scanEntryWindow } from '../src/format/entries.js';
import { hashBytes } from '../src/format/key-bytes.js';
import { buildFileImage } from '../src/format/file-image.js';
import { encodeKey } from '../src/format/key.js';
import { loadMmap } from '../src/format/mmap.js';
import { DbFileReader, PARSE_WINDOW_BYTES, ReadBuffer, type KnownKeyMatcher } from '../src/format/reader.js';
import { tempDir } from './helpers/fixtures.js';
import { seededRandom } from './helpers/seeded-random.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

const native = (process.env.PROM_MULTIPROC_STORAGE ?? '') !== 'fallback' && loadMmap()?.walkKeys !== undefined;

/** Bytes of an entry with a key of `keyLength` bytes: length, key, 1-8 spaces, value and timestamp. */
const entryBytes = (keyLength: number) => 4 + keyLength + (8 - ((keyLength + 4) % 8)) + 16;

function entryOf(key: Buffer): Buffer {
  const entry = Buffer.alloc(entryBytes(key.length), 0x20);
  entry.writeInt32LE(key.length, 0);
  key.copy(entry, 4);
  entry.writeDoubleLE(key.length, entry.length - 16);
  return entry;
}

/** What the JavaScript walk sees from `from`: each entry's key start and length, and where it stopped or why it threw. */
function walkInJs(buf: Buffer, base: number, end: number, used: number, from: number): { entries: Array<[number, number]>; stop: string } {
  const entries: Array<[number, number]> = [];
  try {
    const next = scanEntryWindow(buf, base, end, used, (keyStart, keyLength) => void entries.push([keyStart, keyLength]), base + from);
    return { entries, stop: `at ${next}` };
  } catch (err) {
    if (!(err instanceof CorruptFileError)) throw err;
    return { entries, stop: err.reason };
  }
}

/** Room for the fields of at least one key of up to 32 labels (the addon refuses less). */
const FIELDS = new Int32Array(4096);

/** All entries ByteKeyTable.walk walks from `from`, asked `capacity` at a time (again after each call that walked any): key start, length and slot each; a new key's hash is checked against hashBytes. */
function walkInC(table: ByteKeyTable<number>, buf: Buffer, base: number, end: number, used: number, from: number, capacity: number): Array<[number, number, number]> {
  const out = new Int32Array(5 * capacity + 10);
  const entries: Array<[number, number, number]> = [];
  // Each entry's value offset, value and timestamp are recorded from entry `first` on, in
  // arrays with room for `capacity` entries (out has room for two more: the arrays stop the walk).
  const first = 3;
  const walked = { valueIndex: new Int32Array(first + capacity), first, values: new Float64Array(first + capacity), timestamps: new Float64Array(first + capacity) };
  let pos = from;
  for (;;) {
    walked.valueIndex.fill(-1);
    const n = table.walk(buf, pos, end, base, used, out, FIELDS, walked);
    expect(n).toBeLessThanOrEqual(capacity);
    for (let e = 0; e < n; e++) {
      const [start, length, slot, hash] = out.subarray(5 * e, 5 * e + 4);
      entries.push([start, length, slot]);
      if (slot < 0) expect(hash).toBe(hashBytes(buf, start, start + length));
      pos = start + length + (8 - ((length + 4) % 8)) + 16;
      // Where its value is in the file, and the value and timestamp in the window there.
      expect(walked.valueIndex[first + e] * 8).toBe(base + pos - 16);
      expect([walked.values[first + e], walked.timestamps[first + e]]).toEqual([buf.readDoubleLE(pos - 16), buf.readDoubleLE(pos - 8)]);
    }
    if (n < capacity) expect(walked.valueIndex[first + n]).toBe(-1);
    if (n === 0) return entries;
  }
}

describe.runIf(native)('finding a window\'s known keys in the addon', () => {
  it('walks and finds as the JavaScript walk and ByteKeyTable.get do: keys one byte apart, every length, cut windows, garbage', () => {
    const next = seededRandom(0x15);
    const randomKey = (length: number) => Buffer.from(Array.from({ length }, () => 0x20 + Math.floor(next() * 0xdf)));
    for (let round = 0; round < 60; round++) {
      const table = new ByteKeyTable<number>();
      const known: Buffer[] = [];
      const lengths = [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 149, 150, 151, 1000];
      for (let i = 0; i < 40 + round * 10; i++) {
        const key = randomKey(i < lengths.length ? lengths[i] : Math.floor(next() * 300));
        if (known.some((k) => k.equals(key))) continue;
        table.add(key, 0, key.length, known.length);
        known.push(key);
      }
      // The window: known keys (in the order added, then shuffled runs), keys one byte
      // apart from a known one (a byte changed anywhere, one more or one less byte), new keys.
      const keys: Buffer[] = [];
      for (let i = 0; i < 80; i++) {
        const k = known[next() < 0.5 ? i % known.length : Math.floor(next() * known.length)];
        const roll = next();
        if (roll < 0.6) keys.push(k);
        else if (roll < 0.75 && k.length > 0) {
          const changed = Buffer.from(k);
          changed[Math.floor(next() * k.length)] ^= 1 << Math.floor(next() * 8);
          keys.push(changed);
        } else if (roll < 0.85) keys.push(Buffer.concat([k, randomKey(1)]));
        else if (roll < 0.92 && k.length > 0) keys.push(k.subarray(0, k.length - 1));
        else keys.push(randomKey(Math.floor(next() * 200)));
      }
      const entries = keys.map(entryOf);
      // How the window ends: whole entries; cut inside the last entry; a negative length;
      // a length that runs past `used`; an entry header cut short.
      const ending = round % 5;
      let tail = Buffer.alloc(0);
      if (ending === 1) tail = entries.pop()!.subarray(0, 1 + Math.floor(next() * 20));
      if (ending === 2) tail = Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
      if (ending === 3) tail = Buffer.from([0x00, 0x10, 0x00, 0x00, 0, 0, 0, 0]);
      if (ending === 4) tail = Buffer.from([0x05, 0x00]);
      const skip = Math.floor(next() * 4); // entries before `from`
      const body = Buffer.concat([...entries, tail]);
      const buf = Buffer.from(new ArrayBuffer(body.length + 8 * (round % 3)));
      body.copy(buf);
      const base = 8 * (1 + round);
      const end = body.length;
      // The window ends at `used` (the file's last bytes) in every other round: then a cut entry is corruption, not the next window's.
      const used = round % 2 === 0 ? base + end : base + end + 64;
      let from = 0;
      for (let i = 0; i < skip; i++) from += entries[i].length;
      const js = walkInJs(buf, base, end, used, from);
      for (const capacity of [1, 3, 4096]) {
        const c = walkInC(table, buf, base, end, used, from, capacity);
        expect(c.map(([s, n]) => [s, n])).toEqual(js.entries);
        // The value the addon found is the one get() finds; none where get() finds none.
        expect(c.map(([s, n, slot]) => (slot < 0 ? undefined : table.found(slot)))).toEqual(js.entries.map(([s, n]) => table.get(buf, s, s + n)));
      }
      if (ending === 2) expect(js.stop).toMatch(/negative key length/);
      if (ending === 3 && round % 2 === 0) expect(js.stop).toMatch(/runs past used/);
    }
  });

  it("walks a run of new keys to the window's end (a file of keys not seen yet), and stops when the fields are full", () => {
    const table = new ByteKeyTable<number>();
    const known = Buffer.from('known');
    table.add(known, 0, known.length, 1);
    const plain = (i: number) => Buffer.from(encodeKey('m', 'm_total', [['a', String(i)]], 'h'));
    const keys = [...Array.from({ length: 63 }, (_, i) => Buffer.from(`new ${i}`)), known, ...Array.from({ length: 100 }, (_, i) => plain(i)), known];
    const buf = Buffer.concat(keys.map(entryOf));
    const out = new Int32Array(5 * 4096);
    expect(table.walk(buf, 0, buf.length, 0, buf.length, out, FIELDS)).toBe(keys.length);
    expect([out[5 * 63 + 2], out[5 * 164 + 2]]).toEqual([0, 0]);
    // Keys not in the plain shape have no fields; plain ones have theirs, one after the other (11 int32s with one label: the count, then 5 pairs).
    expect(out[5 * 62 + 4]).toBe(-1);
    expect(Array.from({ length: 100 }, (_, i) => out[5 * (64 + i) + 4])).toEqual(Array.from({ length: 100 }, (_, i) => 11 * i));
    // Room for one key of 32 labels at most (135 int32s): the walk stops before a plain key that might not fit.
    const small = new Int32Array(135 + 6);
    expect(table.walk(buf, 0, buf.length, 0, buf.length, out, small)).toBe(64 + 1);
    expect(() => table.walk(buf, 0, buf.length, 0, buf.length, out, new Int32Array(134))).toThrow(TypeError);
  });

  it('refuses a window range outside its buffer, and an empty table finds nothing', () => {
    const table = new ByteKeyTable<number>();
    const buf = Buffer.concat([entryOf(Buffer.from('abc')), entryOf(Buffer.from('defg'))]);
    const out = new Int32Array(50);
    expect(() => table.walk(buf, 0, buf.length + 1, 0, 1 << 20, out, FIELDS)).toThrow(RangeError);
    expect(() => table.walk(buf, 16, 8, 0, 1 << 20, out, FIELDS)).toThrow(RangeError);
    expect(() => table.walk(buf, 0, buf.length, 8, buf.length, out, FIELDS)).toThrow(RangeError); // the window's end is past `used`
    expect(table.walk(buf, 0, buf.length, 0, 1 << 20, out, FIELDS)).toBe(2);
    expect([out[2], out[7]]).toEqual([-1, -1]);
    table.add(Buffer.from('defg'), 0, 4, 7);
    expect(table.walk(buf, 0, buf.length, 0, 1 << 20, out, FIELDS)).toBe(2);
    expect([out[2], table.found(out[7])]).toEqual([-1, 7]);
  });
});

/** A reader's view of a file, entry by entry: the key (as the table's value or its bytes), the value. */
function readWith(file: string, table: ByteKeyTable<number>, matcher: boolean, change: (index: number) => void): { read: string; foundByAddon: number } {
  const seen: string[] = [];
  let foundByAddon = 0;
  const knownKeys: KnownKeyMatcher | undefined = matcher
    ? {
      walk: (buf, from, end, base, used, out, fields, values) => table.walk(buf, from, end, base, used, out, fields, values),
      takeKnown: (out, from, count, first) => {
        let e = from;
        for (; e < count && out[5 * e + 2] >= 0; e++) {
          change(first + e);
          foundByAddon++;
          seen[first + e] = `known ${table.found(out[5 * e + 2])}`;
        }
        return e;
      },
      onNew: (buf, start, end, index, hash) => {
        change(index);
        const value = table.getHashed(buf, start, end, hash);
        seen[index] = value === undefined ? `new ${buf.toString('latin1', start, end)}` : `known ${value}`;
      },
    }
    : undefined;
  const reader = new DbFileReader(file, {
    onKey: (buf, start, end, index) => {
      change(index);
      const value = table.get(buf, start, end);
      seen[index] = value === undefined ? `new ${buf.toString('latin1', start, end)}` : `known ${value}`;
    },
    knownKeys,
  });
  const outcome = reader.read(new ReadBuffer());
  return { read: JSON.stringify({ outcome, seen: seen.slice(0, reader.entryCount), values: [...reader.values] }), foundByAddon };
}

describe.runIf(native)('a read whose keys the addon finds', () => {
  const keyOf = (i: number) => encodeKey('lat', 'lat_bucket', [['le', String(i % 13)], ['route', `/r${Math.floor(i / 13)}`]], 'Latency.');

  function knownFile(count: number): { file: string; table: ByteKeyTable<number>; image: Buffer } {
    const dir = tempDir();
    dirs.push(dir);
    const file = path.join(dir, 'histogram_1.db');
    const image = buildFileImage(Array.from({ length: count }, (_, i) => ({ key: keyOf(i), value: i, timestamp: 0 })));
    fs.writeFileSync(file, image);
    const table = new ByteKeyTable<number>();
    // Every key but every seventh is known.
    for (let i = 0; i < count; i++) if (i % 7 !== 3) table.add(Buffer.from(keyOf(i)), 0, Buffer.byteLength(keyOf(i)), i);
    return { file, table, image };
  }

  it('gives what the JavaScript path gives when the file changes between two windows of one read', () => {
    // Over two parse windows: the second is read after the first's entries are taken.
    const count = Math.ceil((1.5 * PARSE_WINDOW_BYTES) / 96);
    const changes: Array<[string, (file: string, image: Buffer) => void]> = [
      ['nothing', () => {}],
      ['grown', () => {}],
      ['cut short', (file) => fs.truncateSync(file, PARSE_WINDOW_BYTES + 5000)],
      ['garbage', (file) => {
        const fd = fs.openSync(file, 'r+');
        fs.writeSync(fd, Buffer.alloc(4096, 0xff), 0, 4096, PARSE_WINDOW_BYTES + 4096);
        fs.closeSync(fd);
      }],
      ['keys one byte apart', (file, image) => {
        const copy = Buffer.from(image.toString('latin1').replace(/"\/r(\d+)"/g, (m, n) => (Number(n) % 3 === 0 ? `"/s${n}"` : m)), 'latin1');
        const fd = fs.openSync(file, 'r+');
        fs.writeSync(fd, copy, PARSE_WINDOW_BYTES, copy.length - PARSE_WINDOW_BYTES, PARSE_WINDOW_BYTES);
        fs.closeSync(fd);
      }],
      ['rewritten with other keys', (file) => {
        const other = buildFileImage(Array.from({ length: count }, (_, i) => ({ key: keyOf(count - 1 - i), value: -i, timestamp: 0 })));
        fs.writeFileSync(file, other);
      }],
    ];
    // A writer adding entries (known and new keys) past the used size the read started with, and moving `used` on.
    changes[1][1] = (file) => {
      const grown = buildFileImage(Array.from({ length: count + 500 }, (_, i) => ({ key: i < count ? keyOf(i) : `${keyOf(i)} new`, value: i, timestamp: 0 })));
      fs.writeFileSync(file, grown);
    };
    const reads = new Map<string, string>();
    for (const [name, change] of changes) {
      const outcomes = [true, false].map((matcher) => {
        const { file, table, image } = knownFile(count);
        let changed = false;
        // Once the first window's entries are being taken: the second window is read from the changed file.
        return readWith(file, table, matcher, (index) => {
          if (index === 1000 && !changed) {
            changed = true;
            change(file, image);
          }
        });
      });
      expect(outcomes[0].read, name).toBe(outcomes[1].read);
      expect(outcomes[0].foundByAddon, name).toBeGreaterThan(1000);
      expect(outcomes[1].foundByAddon).toBe(0);
      reads.set(name, outcomes[0].read);
    }
    // Each change was seen: a corrupt file, or other keys.
    const newKeys = (name: string) => reads.get(name)!.split('"new ').length - 1;
    expect(newKeys('keys one byte apart')).toBeGreaterThan(newKeys('nothing'));
    expect(reads.get('cut short')).toContain('"ok":false');
    expect(reads.get('garbage')).toContain('negative key length');
    expect(reads.get('keys one byte apart')).toMatch(/\/s\d+/);
    expect(reads.get('rewritten with other keys')).toContain('"ok":true');
    // Read up to the used size it started with: the entries added since are the next read's.
    expect(reads.get('grown')).toBe(reads.get('nothing'));
    expect(reads.get('rewritten with other keys')).not.toBe(reads.get('nothing'));
  });
});
