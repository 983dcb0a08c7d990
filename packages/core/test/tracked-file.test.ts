// A file whose read fails part-way (a corrupt key after good ones) has had its first
// entries prepared (collect/tracked-file.ts) before the read failed: none of them may be
// taken for a later read's entries, of that file once repaired or of the next file read.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderText } from '../src/collect/exposition.js';
import { DirectoryMerger, type MergeResult } from '../src/collect/merge.js';
import { buildFileImage } from '../src/format/file-image.js';
import type { TrackedFile } from '../src/collect/tracked-file.js';
import { encodeKey } from '../src/format/key.js';
import { tempDir } from './helpers/fixtures.js';

/** What a merge gives that a user can see. */
const observable = (result: MergeResult) => `${renderText(result.families)}\n${JSON.stringify(result.problems)}`;

const counters = (prefix: string, count: number, value: number) =>
  Array.from({ length: count }, (_, i) => ({ key: encodeKey(`${prefix}`, `${prefix}_total`, [['route', `/r${i}`]], 'Requests.'), value, timestamp: 0 }));

/** Not a JSON array: the file it is in is corrupt, found after the entries before it were prepared. */
const BAD_KEY = { key: '["broken", "broken_total", {"route": "/x"}, "Requests."', value: 1, timestamp: 0 };

function write(dir: string, name: string, entries: Array<{ key: string; value: number; timestamp: number }>): void {
  fs.writeFileSync(path.join(dir, name), buildFileImage(entries));
}

describe('entries prepared by a read that failed part-way', () => {
  it('are not taken into the file when it is read again, repaired', () => {
    const dir = tempDir();
    write(dir, 'counter_2000.db', [...counters('req', 30, 1), BAD_KEY]);
    const merger = new DirectoryMerger(dir);
    const failed = merger.merge();
    expect(failed.problems.map((p) => [p.file, p.problem])).toEqual([['counter_2000.db', 'corrupt']]);
    // Repaired with other series: a read that kept the failed one's entries would place them too.
    write(dir, 'counter_2000.db', [...counters('other', 12, 2), ...counters('req', 3, 5)]);
    const repaired = observable(merger.merge());
    expect(repaired).toBe(observable(new DirectoryMerger(dir).merge()));
    expect(repaired).not.toContain('/r29');
    expect(repaired).toContain('other_total{route="/r11"} 2.0');
  });

  it('are not taken into the next file read', () => {
    const dir = tempDir();
    write(dir, 'counter_2000.db', [...counters('req', 30, 1), BAD_KEY]);
    write(dir, 'counter_3000.db', counters('req', 4, 7));
    const merger = new DirectoryMerger(dir);
    const result = observable(merger.merge());
    expect(result).toBe(observable(new DirectoryMerger(dir).merge()));
    expect(result).toContain('req_total{route="/r3"} 7.0');
    expect(result).not.toContain('/r4"');
    // And the next merge, the corrupt file still corrupt and the other one grown.
    write(dir, 'counter_3000.db', counters('req', 6, 8));
    const next = observable(merger.merge());
    expect(next).toBe(observable(new DirectoryMerger(dir).merge()));
    expect(next).toContain('req_total{route="/r5"} 8.0');
  });
});

describe('entries kept as key slots', () => {
  it('follow their keys when a dropped file makes the key cache renumber its slots, in a gauge file too', () => {
    const dir = tempDir();
    const gauges = (count: number, value: number) =>
      Array.from({ length: count }, (_, i) => ({ key: encodeKey('temp', 'temp', [['room', `/g${i}`]], 'Temperature.'), value: value + i, timestamp: 0 }));
    // The first file's keys take the first slots; the others' keys come after them.
    write(dir, 'counter_1000.db', counters('gone', 20, 1));
    write(dir, 'counter_2000.db', [...counters('gone', 5, 2), ...counters('req', 15, 3)]);
    write(dir, 'counter_3000.db', [...counters('req', 15, 4), ...counters('late', 8, 5)]);
    write(dir, 'gauge_all_3000.db', gauges(6, 10));
    const merger = new DirectoryMerger(dir);
    expect(observable(merger.merge())).toBe(observable(new DirectoryMerger(dir).merge()));
    // Dropping the first file frees the first slots: every key left moves to a lower slot.
    fs.rmSync(path.join(dir, 'counter_1000.db'));
    const after = observable(merger.merge());
    expect(after).toBe(observable(new DirectoryMerger(dir).merge()));
    expect(after).toContain('late_total{route="/r7"} 5.0');
    expect(after).not.toContain('gone_total{route="/r19"}');
    // Then known keys again (a new file, a grown one), found in the renumbered table.
    write(dir, 'counter_4000.db', [...counters('late', 8, 6), ...counters('req', 15, 7)]);
    write(dir, 'gauge_all_3000.db', gauges(9, 20));
    const grown = observable(merger.merge());
    expect(grown).toBe(observable(new DirectoryMerger(dir).merge()));
    expect(grown).toContain('late_total{route="/r7"} 11.0');
    expect(grown).toContain('temp{pid="3000",room="/g8"} 28.0');
    // Every entry's family is its key's metric (a family a placed step does not show).
    const files = [...(merger as unknown as { files: Map<string, TrackedFile> }).files.values()];
    expect(files.map((f) => f.name).sort()).toEqual(['counter_2000.db', 'counter_3000.db', 'counter_4000.db', 'gauge_all_3000.db']);
    for (const file of files) {
      const keys = file.preparedKeys();
      expect(keys.map((k, i) => file.familyNames[file.familyOf[i]] === k.metricName).every(Boolean), file.name).toBe(true);
    }
    expect(files.find((f) => f.name === 'counter_4000.db')!.familyNames).toEqual(['late', 'req']);
  });
});
