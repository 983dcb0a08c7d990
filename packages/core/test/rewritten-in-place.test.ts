// A file rewritten in place (same inode) with another layout, by a buggy or hostile
// process: the collector keeps its place in each file and reads only what was added
// since, so it must notice that the entries it already knows have moved, or it would
// read one series' value as another's. Writers only ever append; the reader checks the
// first and the last entry it knows on every read and starts over when either changed.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DirectoryMerger } from '../src/index.js';
import { renderText } from '../src/collect/exposition.js';
import { buildFileImage, type ImageEntry } from '../src/format/file-image.js';
import { encodeKey } from '../src/format/key.js';
import { tempDir } from './helpers/fixtures.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function entry(i: number, value: number): ImageEntry {
  return { key: encodeKey('c', 'c_total', [['i', String(i)]], 'A counter.'), value, timestamp: 0 };
}

/** Writes `entries` over the file's bytes in place: same inode, as a process holding it open would. */
function rewriteInPlace(file: string, entries: ImageEntry[]): void {
  const image = buildFileImage(entries);
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT);
  try {
    fs.ftruncateSync(fd, image.length);
    fs.writeSync(fd, image, 0, image.length, 0);
  } finally {
    fs.closeSync(fd);
  }
}

function merged(merger: DirectoryMerger): string {
  return renderText(merger.merge().families);
}

const layouts: Array<[string, ImageEntry[]]> = [
  // The same series in another order, and more of them (the file grew).
  ['shuffled and grown', [entry(3, 400), entry(1, 200), entry(0, 100), entry(2, 300), entry(4, 500), entry(5, 600)]],
  // The first entry where it was, the others moved: the last known entry tells.
  ['first kept, rest moved', [entry(0, 100), entry(3, 400), entry(2, 300), entry(1, 200), entry(5, 600)]],
  // The last known entry where it was (same key, same offset), the first one moved.
  ['last kept, first moved', [entry(1, 200), entry(0, 100), entry(2, 300), entry(3, 400), entry(7, 800)]],
  // Other series altogether.
  ['other series', [entry(10, 1), entry(11, 2), entry(12, 3), entry(13, 4), entry(14, 5), entry(15, 6)]],
];

describe('a file rewritten in place with another layout', () => {
  for (const [name, after] of layouts) {
    it(`is merged as a fresh collector merges it (${name})`, () => {
      const dir = tempDir();
      dirs.push(dir);
      const file = path.join(dir, 'counter_1.db');
      rewriteInPlace(file, [entry(0, 1), entry(1, 2), entry(2, 3), entry(3, 4)]);
      const inode = fs.statSync(file).ino;
      const merger = new DirectoryMerger(dir);
      // Twice: the second read is the steady one (only what was added, values from the mapping).
      merged(merger);
      expect(merged(merger)).toContain('c_total{i="3"} 4.0');

      rewriteInPlace(file, after);
      expect(fs.statSync(file).ino).toBe(inode);
      const fresh = merged(new DirectoryMerger(dir));
      for (const e of after) expect(fresh).toContain(`c_total{i="${/"i": "(\d+)"/.exec(e.key)![1]}"} ${e.value.toFixed(1)}`);
      expect(merged(merger)).toBe(fresh);
      expect(merged(merger)).toBe(fresh);
      merger.close();
    });
  }
});
