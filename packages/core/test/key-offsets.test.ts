// The writer finds each key's entry through a (hash, offset) table over its own file:
// the same slot for the same key, a new entry for a new key, and the same answers after
// the file is continued by another MappedFile (the last entry of a repeated key wins).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { entrySize, HEADER_BYTES, paddingFor } from '../src/format/entries.js';
import { encodeKey } from '../src/format/key.js';
import { KeyOffsets } from '../src/format/key-offsets.js';
import { MappedFile } from '../src/format/mapped-file.js';
import { readDbFile } from '../src/format/reader.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'key-offsets-'));
  dirs.push(dir);
  return dir;
}
const keyOf = (i: number) => encodeKey('m', 'm_total', [['route', `/r/${i}`], ['zone', i % 3 === 0 ? 'é' : 'a']], 'help');

describe('MappedFile key table', () => {
  it('gives every key its own slot and the same slot again, across table growth and a reopen', () => {
    const file = path.join(tempDir(), 'counter_1.db');
    const writer = MappedFile.open(file);
    const slots = new Map<number, number>();
    for (let i = 0; i < 5000; i++) {
      const slot = writer.slotFor(keyOf(i));
      writer.values[slot] = i;
      slots.set(i, slot);
    }
    expect(new Set(slots.values()).size).toBe(5000);
    for (let i = 0; i < 5000; i += 7) expect(writer.slotFor(keyOf(i))).toBe(slots.get(i));
    const used = writer.usedBytes;
    writer.close();

    const again = MappedFile.open(file);
    for (let i = 0; i < 5000; i += 3) expect(again.slotFor(keyOf(i))).toBe(slots.get(i));
    expect(again.usedBytes).toBe(used); // nothing appended for known keys
    const fresh = again.slotFor(keyOf(5000));
    expect(again.usedBytes).toBeGreaterThan(used);
    expect([...slots.values()]).not.toContain(fresh);
    again.close();
    const entries = readDbFile(file);
    expect(entries).toHaveLength(5001);
    expect(entries.slice(0, 5000).map((e) => e.value)).toEqual([...Array(5000).keys()]);
  });

  it('continues a file with a repeated key at its last entry, as Python does', () => {
    const file = path.join(tempDir(), 'counter_2.db');
    const key = keyOf(1);
    const length = Buffer.byteLength(key);
    const size = entrySize(length);
    const buf = Buffer.alloc(65536);
    buf.writeInt32LE(HEADER_BYTES + 2 * size, 0);
    for (const [n, value] of [[0, 1], [1, 2]]) {
      const at = HEADER_BYTES + n * size;
      buf.writeInt32LE(length, at);
      buf.write(key, at + 4);
      buf.fill(0x20, at + 4 + length, at + 4 + length + paddingFor(length));
      buf.writeDoubleLE(value, at + 4 + length + paddingFor(length));
    }
    fs.writeFileSync(file, buf);
    const writer = MappedFile.open(file);
    expect(writer.values[writer.slotFor(key)]).toBe(2);
    writer.close();
  });

  it('finds each of 2,000 keys at its own offset through several rehashes, and no unknown key', () => {
    const table = new KeyOffsets();
    const buf = Buffer.alloc(1 << 20);
    let at = HEADER_BYTES;
    const offsets: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const key = `k${i}Aa`;
      buf.writeInt32LE(Buffer.byteLength(key), at);
      buf.write(key, at + 4);
      table.set(buf, at);
      offsets.push(at);
      at += entrySize(Buffer.byteLength(key));
    }
    const get = (key: string) => table.get(buf, Buffer.from(key), Buffer.byteLength(key));
    for (let i = 0; i < 2000; i++) expect(get(`k${i}Aa`)).toBe(offsets[i]);
    expect(get('k1BB')).toBe(-1);
    expect(get('nope')).toBe(-1);
  });

  it('tells apart two keys with the same hash by their bytes in the file', () => {
    // "key-901258" and "key-1540052" have the same 32-bit FNV-1a hash (found by search).
    const table = new KeyOffsets();
    const buf = Buffer.alloc(4096);
    const first = 'key-901258';
    const second = 'key-1540052';
    buf.writeInt32LE(first.length, 8);
    buf.write(first, 12);
    const secondAt = 8 + entrySize(first.length);
    buf.writeInt32LE(second.length, secondAt);
    buf.write(second, secondAt + 4);
    const get = (key: string) => table.get(buf, Buffer.from(key), key.length);
    table.set(buf, 8);
    expect(get(second)).toBe(-1);
    table.set(buf, secondAt);
    expect(get(first)).toBe(8);
    expect(get(second)).toBe(secondAt);
  });
});
