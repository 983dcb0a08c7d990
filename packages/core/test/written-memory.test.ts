// The fallback storage's write-back (format/written-memory.ts), in this process.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeKey } from '../src/format/key.js';
import { MappedFile } from '../src/format/mapped-file.js';
import { flushWrittenFiles } from '../src/format/written-memory.js';
import { readDbFile } from '../src/index.js';
import { tempDir } from './helpers/fixtures.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function fileIn(): string {
  const dir = tempDir();
  dirs.push(dir);
  return path.join(dir, 'counter_1.db');
}

const KEY = encodeKey('jobs', 'jobs_total', [], 'h');

describe('fallback write-back', () => {
  it('the file changes only at a write-back, then holds exactly the bytes the mmap writer leaves', () => {
    const file = fileIn();
    const twin = path.join(path.dirname(file), 'counter_2.db');
    const written = MappedFile.open(file, 'fallback');
    const mapped = MappedFile.open(twin, 'mmap');
    for (const writer of [written, mapped]) {
      for (let i = 0; i < 3000; i++) writer.values[writer.slotFor(encodeKey('m', 'm_total', [['id', String(i)]], 'h'))] = i;
    }
    expect(readDbFile(file)).toEqual([]); // nothing written back yet: `used` is still 0 on disk
    flushWrittenFiles();
    expect(written.capacityBytes).toBe(262144);
    expect(fs.readFileSync(file).equals(fs.readFileSync(twin))).toBe(true);
    written.values[written.slotFor(encodeKey('m', 'm_total', [['id', '7']], 'h'))] = 70;
    flushWrittenFiles();
    expect(readDbFile(file).find((e) => e.labels.id === '7')!.value).toBe(70);
    written.close();
    mapped.close();
  });

  it('one writer per file: reopening it in this process continues it, and the earlier image writes no more', () => {
    const file = fileIn();
    const first = MappedFile.open(file, 'fallback');
    const slot = first.slotFor(KEY);
    first.values[slot] = 1;
    const second = MappedFile.open(file, 'fallback'); // writes the first one back and retires it
    expect(second.values[second.slotFor(KEY)]).toBe(1);
    second.values[slot] = 2;
    first.values[slot] = 99;
    flushWrittenFiles();
    expect(readDbFile(file)[0].value).toBe(2);
    second.close();
  });
});
