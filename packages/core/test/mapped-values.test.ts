// The collector's steady read: after a file's first read, only each entry's value and
// timestamp are copied out of a read-only mapping of it (native/mmap.c), and only bytes
// added since are read to parse new entries. A file truncated under the mapping faults in
// the copy (SIGBUS, caught in C) or leaves zeros where it was cut: both are reported, never
// served, and the process lives. Mappings are released when a file is replaced, vanishes,
// is forgotten, or the collector closes. Where the addon does not load, read() as before.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Collector, DirectoryMerger } from '../src/index.js';
import { buildFileImage, type ImageEntry } from '../src/format/file-image.js';
import { entrySize } from '../src/format/entries.js';
import { encodeKey } from '../src/format/key.js';
import { onMemoryFileSystem } from '../src/format/file-system.js';
import { DbFileReader, PARSE_WINDOW_BYTES, ReadBuffer } from '../src/format/reader.js';
import { tempDir } from './helpers/fixtures.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function newDir(): string {
  const dir = tempDir();
  dirs.push(dir);
  return dir;
}

/** Mappings of `file` this process holds: of its current inode, and of replaced or removed ones. */
function mappingsOf(file: string): { live: number; deleted: number } {
  const lines = fs.readFileSync('/proc/self/maps', 'utf8').split('\n');
  return { live: lines.filter((l) => l.endsWith(` ${file}`)).length, deleted: lines.filter((l) => l.endsWith(` ${file} (deleted)`)).length };
}

/** `count` counter entries `c_total{i="<first + k>"}` with value (first + k + 1) * scale. */
function entries(count: number, scale = 1, first = 0): ImageEntry[] {
  return Array.from({ length: count }, (_, k) => ({
    key: encodeKey('c', 'c_total', [['i', String(first + k)], ['pad', 'x'.repeat(40)]], 'A counter.'),
    value: (first + k + 1) * scale,
    timestamp: 0,
  }));
}

const sorted = (values: number[]) => [...values].sort((x, y) => x - y);

/** What the reader reads of a file to tell it was not rewritten in place: its first and last entry's bytes before their values. */
const knownHeadsOf = (list: readonly ImageEntry[]) =>
  [list[0], list[list.length - 1]].reduce((n, e) => n + Math.min(entrySize(Buffer.byteLength(e.key)) - 16, 4096), 0);

/** Where entry `k`'s value is in the image of `list` (after the 8-byte header, each entry's length, key and padding). */
function valueOffsetOf(list: readonly ImageEntry[], k: number): number {
  let at = 8;
  for (let j = 0; j < k; j++) at += entrySize(Buffer.byteLength(list[j].key));
  return at + entrySize(Buffer.byteLength(list[k].key)) - 16;
}

const usedOf = (file: string) => {
  const header = Buffer.alloc(4);
  const fd = fs.openSync(file, 'r');
  fs.readSync(fd, header, 0, 4, 0);
  fs.closeSync(fd);
  return header.readInt32LE(0);
};

/** Appends `more` after the file's used bytes, in place, as a writer adds series. */
function appendInPlace(file: string, before: readonly ImageEntry[], more: readonly ImageEntry[]): void {
  const image = buildFileImage([...before, ...more]);
  const fd = fs.openSync(file, 'r+');
  const from = usedOf(file);
  if (fs.fstatSync(fd).size < image.length) fs.ftruncateSync(fd, image.length);
  fs.writeSync(fd, image, from, image.readInt32LE(0) - from, from);
  fs.writeSync(fd, image, 0, 4, 0);
  fs.closeSync(fd);
}

function setValueInPlace(file: string, valueOffset: number, value: number): void {
  const bytes = Buffer.alloc(8);
  bytes.writeDoubleLE(value, 0);
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, bytes, 0, 8, valueOffset);
  fs.closeSync(fd);
}

describe('steady reads copy values out of a read-only mapping', () => {
  it('parses keys from bounded windows: entries cut by a window end or larger than a window come out whole, the read buffer stays one window', () => {
    const dir = newDir();
    // ~3.5 MB of entries whose key lengths vary, so window ends fall at every place in an entry.
    const varied = (count: number, first: number, giantAt = -1): ImageEntry[] => Array.from({ length: count }, (_, k) => ({
      key: encodeKey('c', 'c_total', [['i', String(first + k)], ['pad', (first + k) === giantAt ? 'y'.repeat(1.5 * PARSE_WINDOW_BYTES) : 'x'.repeat((first + k) % 61)]], 'A counter.'),
      value: (first + k) * 0.5,
      timestamp: first + k,
    }));
    const check = (reader: DbFileReader, expected: ImageEntry[]) => {
      expect(reader.entryCount).toBe(expected.length);
      expect(reader.entries.map((e) => e.key)).toEqual(expected.map((e) => e.key));
      expect(Array.from(reader.values)).toEqual(expected.map((e) => e.value));
      expect(Array.from(reader.timestamps)).toEqual(expected.map((e) => e.timestamp));
    };
    for (const giantAt of [-1, 12_345]) {
      const file = path.join(dir, `counter_${giantAt < 0 ? 1 : 2}.db`);
      const first = varied(30_000, 0, giantAt);
      fs.writeFileSync(file, buildFileImage(first));
      expect(usedOf(file)).toBeGreaterThan(3 * PARSE_WINDOW_BYTES);
      const reader = new DbFileReader(file);
      const scratch = new ReadBuffer();
      expect(reader.read(scratch)).toEqual({ ok: true, newEntries: 30_000 });
      check(reader, first);
      // One window (two for the entry larger than one), not the file's used size.
      expect(scratch.buf.length).toBeLessThanOrEqual(giantAt < 0 ? PARSE_WINDOW_BYTES : 2 * PARSE_WINDOW_BYTES);
      // Growth by more than a window: the new keys are parsed in windows, every value comes from the mapping.
      const more = varied(20_000, 30_000);
      appendInPlace(file, first, more);
      expect(reader.read(scratch)).toEqual({ ok: true, newEntries: 20_000 });
      check(reader, [...first, ...more]);
      expect(mappingsOf(file).live).toBe(1);
      reader.close();
    }
  });

  it('reads the whole file once, then only its header and 16 bytes per entry; a value written in place is seen', () => {
    const dir = newDir();
    const file = path.join(dir, 'counter_1.db');
    const first = entries(200);
    fs.writeFileSync(file, buildFileImage(first));
    const used = usedOf(file);
    const reader = new DbFileReader(file);
    const scratch = new ReadBuffer();
    expect(reader.read(scratch)).toEqual({ ok: true, newEntries: 200 });
    expect(reader.bytesRead).toBe(used);
    expect(mappingsOf(file).live).toBe(0); // a one-off read maps nothing

    setValueInPlace(file, reader.entries[7].valueOffset, 1234.5);
    expect(reader.read(scratch)).toEqual({ ok: true, newEntries: 0 });
    expect(reader.bytesRead).toBe(8 + knownHeadsOf(first) + 200 * 16);
    expect(reader.values[7]).toBe(1234.5);
    expect(reader.values[8]).toBe(9);
    expect(mappingsOf(file).live).toBe(1);

    // New entries: only the bytes added are read, every value still comes from the mapping.
    appendInPlace(file, first, entries(50, 1, 200));
    const grownUsed = usedOf(file);
    expect(reader.read(scratch)).toEqual({ ok: true, newEntries: 50 });
    // The known entries checked, the added bytes parsed.
    expect(reader.bytesRead).toBe(8 + knownHeadsOf(first) + (grownUsed - used) + 250 * 16);
    expect(reader.values[7]).toBe(1234.5);
    expect(Array.from(reader.values.subarray(200))).toEqual(entries(50, 1, 200).map((e) => e.value));
    reader.close();
    expect(mappingsOf(file)).toEqual({ live: 0, deleted: 0 });
  });

  it('maps again when the file grew past its mapping, and drops the mapping of a replaced file', () => {
    const dir = newDir();
    const file = path.join(dir, 'counter_1.db');
    const first = entries(100);
    fs.writeFileSync(file, buildFileImage(first));
    const reader = new DbFileReader(file);
    const scratch = new ReadBuffer();
    reader.read(scratch);
    reader.read(scratch);
    const mappedSize = fs.statSync(file).size;
    // Past the file's size (64 KiB): the file is made larger, the mapping must follow.
    const more = entries(800, 1, 100);
    appendInPlace(file, first, more);
    expect(fs.statSync(file).size).toBeGreaterThan(mappedSize);
    expect(reader.read(scratch)).toEqual({ ok: true, newEntries: 800 });
    setValueInPlace(file, usedOf(file) - 16, -1); // the last entry, past the old mapping
    reader.read(scratch);
    expect(reader.values[899]).toBe(-1);
    expect(mappingsOf(file)).toEqual({ live: 1, deleted: 0 });

    // Replaced by a rename (another layout): read whole again, the old inode's mapping released.
    const replacement = entries(30, 10).reverse();
    fs.writeFileSync(`${file}.tmp`, buildFileImage(replacement));
    fs.renameSync(`${file}.tmp`, file);
    expect(reader.read(scratch)).toEqual({ ok: true, newEntries: 30 });
    expect(Array.from(reader.values)).toEqual(replacement.map((e) => e.value));
    expect(mappingsOf(file)).toEqual({ live: 0, deleted: 0 });
    reader.read(scratch);
    expect(Array.from(reader.values)).toEqual(replacement.map((e) => e.value));
    expect(mappingsOf(file)).toEqual({ live: 1, deleted: 0 });

    // Vanished: reported missing, mapping released.
    fs.rmSync(file);
    expect(reader.read(scratch)).toMatchObject({ ok: false, problem: 'missing' });
    expect(mappingsOf(file)).toEqual({ live: 0, deleted: 0 });
  });

  it('a file truncated under the mapping during the copy faults (SIGBUS, caught): reported, never served, the process lives', () => {
    const dir = newDir();
    const file = path.join(dir, 'counter_1.db');
    const first = entries(400); // ~40 KB: entries on ten pages
    fs.writeFileSync(file, buildFileImage(first));
    let cutAt = -1;
    // onKey runs after the size checks and before the copy: the moment a hostile process
    // would pick. It cuts the file at its first page, below most entries' values.
    const reader = new DbFileReader(file, { onKey: () => { if (cutAt >= 0) fs.truncateSync(file, cutAt); } });
    const scratch = new ReadBuffer();
    reader.read(scratch);
    reader.read(scratch); // mapped
    appendInPlace(file, first, entries(1, 1, 400));
    cutAt = 4096;
    const outcome = reader.read(scratch);
    expect(outcome).toEqual({ ok: false, problem: 'corrupt', reason: expect.stringMatching(/truncated below its used size \(\d+ bytes\) while its values were copied/) });
    expect(reader.entryCount).toBe(0);
    expect(mappingsOf(file)).toEqual({ live: 0, deleted: 0 });

    // Put back whole: read again from its first entry, exact.
    cutAt = -1;
    fs.writeFileSync(file, buildFileImage([...first, ...entries(1, 1, 400)]));
    expect(reader.read(scratch)).toEqual({ ok: true, newEntries: 401 });
    expect(reader.read(scratch)).toEqual({ ok: true, newEntries: 0 });
    expect(Array.from(reader.values)).toEqual(entries(401).map((e) => e.value));
  });

  it('a file cut inside the page of a value (zeros through the mapping, no fault) is reported, not served as zeros', () => {
    const dir = newDir();
    const file = path.join(dir, 'counter_1.db');
    const first = entries(100);
    fs.writeFileSync(file, buildFileImage(first));
    let cut = false;
    const reader = new DbFileReader(file, { onKey: () => { if (cut) fs.truncateSync(file, usedOf(file) - 12); } });
    const scratch = new ReadBuffer();
    reader.read(scratch);
    reader.read(scratch);
    appendInPlace(file, first, entries(1, 1, 100));
    cut = true;
    expect(reader.read(scratch)).toEqual({ ok: false, problem: 'corrupt', reason: expect.stringMatching(/truncated below its used size \(\d+ bytes\) while it was read/) });
  });

  it('a reader that does not keep its mapping maps the file for each read and releases it after the copy: values, growth, replacement and a cut file as with a kept one', () => {
    const dir = newDir();
    const file = path.join(dir, 'counter_1.db');
    const first = entries(300);
    fs.writeFileSync(file, buildFileImage(first));
    let cutAt = -1;
    const reader = new DbFileReader(file, { keepMapping: false, onKey: () => { if (cutAt >= 0) fs.truncateSync(file, cutAt); } });
    const scratch = new ReadBuffer();
    expect(reader.read(scratch)).toEqual({ ok: true, newEntries: 300 });
    setValueInPlace(file, valueOffsetOf(first, 7), 1234.5);
    expect(reader.read(scratch)).toEqual({ ok: true, newEntries: 0 });
    // Still only the header, the known entries' heads and 16 bytes per entry.
    expect(reader.bytesRead).toBe(8 + knownHeadsOf(first) + 300 * 16);
    expect(reader.values[7]).toBe(1234.5);
    expect(mappingsOf(file)).toEqual({ live: 0, deleted: 0 });

    // Grown past its size when first mapped: the new entries parsed, every value exact.
    const more = entries(800, 1, 300);
    appendInPlace(file, first, more);
    expect(reader.read(scratch)).toEqual({ ok: true, newEntries: 800 });
    setValueInPlace(file, usedOf(file) - 16, -1);
    expect(reader.read(scratch)).toEqual({ ok: true, newEntries: 0 });
    expect(reader.values[1099]).toBe(-1);
    expect(reader.values[7]).toBe(1234.5);
    expect(Array.from(reader.values.subarray(300, 1099))).toEqual(more.slice(0, 799).map((e) => e.value));
    expect(mappingsOf(file)).toEqual({ live: 0, deleted: 0 });

    // Cut under the copy (SIGBUS, caught in C): reported, never served.
    appendInPlace(file, [...first, ...more], entries(1, 1, 1100));
    cutAt = 4096;
    expect(reader.read(scratch)).toEqual({ ok: false, problem: 'corrupt', reason: expect.stringMatching(/truncated below its used size \(\d+ bytes\) while its values were copied/) });
    expect(mappingsOf(file)).toEqual({ live: 0, deleted: 0 });
    cutAt = -1;

    // Replaced by a rename: read whole again, then steady reads map the new inode only while they copy.
    const replacement = entries(30, 10).reverse();
    fs.writeFileSync(`${file}.tmp`, buildFileImage(replacement));
    fs.renameSync(`${file}.tmp`, file);
    expect(reader.read(scratch)).toEqual({ ok: true, newEntries: 30 });
    expect(reader.read(scratch)).toEqual({ ok: true, newEntries: 0 });
    expect(Array.from(reader.values)).toEqual(replacement.map((e) => e.value));
    expect(mappingsOf(file)).toEqual({ live: 0, deleted: 0 });
  });

  it('a merger keeps its files mapped between merges on tmpfs only (elsewhere each mapping goes after its copy); it forgets the mapping of a file that is gone; Collector.close releases every mapping', async () => {
    // The OS's temp dir, and /dev/shm where there is one: tmpfs on most Linux machines.
    const parents = [os.tmpdir(), ...(fs.existsSync('/dev/shm') ? ['/dev/shm'] : [])];
    const kinds = new Set<boolean>();
    for (const parent of parents) {
      const dir = tempDir('pmp-mapped-', parent);
      dirs.push(dir);
      const kept = memoryFileSystemInMounts(dir);
      kinds.add(kept);
      await mergerAndCollectorMappings(dir, kept ? 1 : 0);
    }
    // Where both kinds exist (this machine's /tmp is a disk file system), both were checked.
    if (!memoryFileSystemInMounts(os.tmpdir()) && parents.length === 2 && memoryFileSystemInMounts('/dev/shm')) expect(kinds).toEqual(new Set([true, false]));
  });

  it('tells tmpfs from other file systems as /proc/mounts does; a missing dir counts as not tmpfs', () => {
    for (const dir of [os.tmpdir(), '/dev/shm', process.cwd(), '/proc']) {
      if (!fs.existsSync(dir)) continue;
      expect(onMemoryFileSystem(dir), dir).toBe(memoryFileSystemInMounts(dir));
    }
    expect(onMemoryFileSystem(path.join(os.tmpdir(), 'pmp-no-such-dir', 'x'))).toBe(false);
  });
});

/**
 * Whether /proc/mounts puts `dir` on tmpfs or ramfs: the mount with the longest mount
 * point that holds it (read independently of the statfs the merger uses).
 */
function memoryFileSystemInMounts(dir: string): boolean {
  const real = fs.realpathSync(dir);
  let best = '';
  let type = '';
  for (const line of fs.readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const [, point, fsType] = line.split(' ');
    if (point === undefined) continue;
    const mountPoint = point.replace(/\\040/g, ' ');
    const holds = mountPoint === '/' || real === mountPoint || real.startsWith(`${mountPoint}/`);
    if (holds && mountPoint.length >= best.length) {
      best = mountPoint;
      type = fsType;
    }
  }
  return type === 'tmpfs' || type === 'ramfs';
}

/** A merger's and a collector's mappings of a directory's files: `live` of each after a steady read (1 kept, 0 released). */
async function mergerAndCollectorMappings(dir: string, live: number): Promise<void> {
  {
    const a = path.join(dir, 'counter_1.db');
    const b = path.join(dir, 'counter_2.db');
    fs.writeFileSync(a, buildFileImage(entries(20)));
    fs.writeFileSync(b, buildFileImage(entries(20, 100)));
    const merger = new DirectoryMerger(dir);
    merger.merge();
    const steady = merger.merge();
    expect(steady.stats.bytesRead).toBe(2 * (8 + knownHeadsOf(entries(20)) + 20 * 16));
    expect(sorted(steady.families[0].samples.map((s) => s.value))).toEqual(entries(20, 101).map((e) => e.value)); // the same keys in both: summed
    expect(mappingsOf(a).live + mappingsOf(b).live).toBe(2 * live);
    fs.rmSync(b);
    const after = merger.merge();
    expect(sorted(after.families[0].samples.map((s) => s.value))).toEqual(entries(20).map((e) => e.value));
    expect(mappingsOf(b)).toEqual({ live: 0, deleted: 0 });
    merger.close();
    expect(mappingsOf(a)).toEqual({ live: 0, deleted: 0 });

    const collector = new Collector({ directory: dir, log: () => {} });
    await collector.scrape();
    const { body } = await collector.scrape();
    expect(body).toContain('c_total{i="19",pad="xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"} 20.0');
    expect(mappingsOf(a).live).toBe(live);
    collector.close();
    expect(mappingsOf(a).live).toBe(0);
    await collector.scrape();
    expect((await collector.scrape()).body).toContain('c_total{i="19",pad="xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"} 20.0');
    expect(mappingsOf(a).live).toBe(live);
    collector.close();
    expect(mappingsOf(a).live).toBe(0);
  }
}

describe('where the addon does not load', () => {
  it('the collector reads every file whole with read(), values as exact as through the mapping', () => {
    const dir = newDir();
    const files = [path.join(dir, 'counter_1.db'), path.join(dir, 'counter_2.db')];
    fs.writeFileSync(files[0], buildFileImage(entries(300)));
    fs.writeFileSync(files[1], buildFileImage(entries(300, 1000)));
    // Two merges with a value written in place between them; prints what each read and served.
    const script = `
      import('@prom-multiproc/core').then(({ DirectoryMerger, readDbFile }) => {
        const fs = require('node:fs');
        const [dir, file] = process.argv.slice(1);
        const merger = new DirectoryMerger(dir);
        const first = merger.merge();
        const at = readDbFile(file)[5].valueOffset;
        const bytes = Buffer.alloc(8); bytes.writeDoubleLE(0.5, 0);
        const fd = fs.openSync(file, 'r+'); fs.writeSync(fd, bytes, 0, 8, at); fs.closeSync(fd);
        const second = merger.merge();
        const values = second.families[0].samples.map((s) => s.value).sort((x, y) => x - y);
        console.log(JSON.stringify({ read: [first.stats.bytesRead, second.stats.bytesRead], values }));
      });`;
    const run = (preload: string[]) => {
      const result = spawnSync(process.execPath, [...preload, '-e', script, dir, files[0]], {
        cwd: __dirname, encoding: 'utf8', env: { ...process.env, PROM_MULTIPROC_STORAGE: '' },
      });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      return JSON.parse(result.stdout) as { read: number[]; values: number[] };
    };
    const used = usedOf(files[0]) + usedOf(files[1]);
    const checked = 2 * knownHeadsOf(entries(300));
    const expected = sorted(entries(300).map((e, i) => (i === 5 ? 0.5 : e.value) + e.value * 1000));
    const broken = run(['-r', path.join(__dirname, 'helpers', 'break-mmap-addon.cjs')]);
    expect(broken).toEqual({ read: [used, used + checked], values: expected });
    // Restore the value so the mapped run starts from the same files.
    fs.writeFileSync(files[0], buildFileImage(entries(300)));
    expect(run([])).toEqual({ read: [used, 2 * 8 + checked + 2 * 300 * 16], values: expected });
  });
});
