// Folding dead processes into archives: same totals before and after, at every step of
// a crash, and in a second pass into an existing archive.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DirectoryMerger, compactDeadProcesses, configureStorage, Counter, findDeadProcessIds, recoverCompaction, renderText,
  type CompactionStep,
} from '../src/index.js';
import { FIXTURES, dbFiles, flushWrites, stderrBesidesFallbackNotice, tempDir } from './helpers/fixtures.js';

const dirs: string[] = [];
afterEach(() => {
  configureStorage();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function copyFixture(...fixtures: string[]): string {
  const dir = tempDir();
  dirs.push(dir);
  for (const fixture of fixtures) {
    for (const f of fs.readdirSync(path.join(FIXTURES, fixture)).filter((f) => f.endsWith('.db'))) {
      fs.copyFileSync(path.join(FIXTURES, fixture, f), path.join(dir, f));
    }
  }
  return dir;
}

const merged = (dir: string) => {
  const result = new DirectoryMerger(dir).merge();
  expect(result.problems).toEqual([]);
  return renderText(result.families);
};

/** The merged text with gauges of modes that do not outlive a process left out. */
const durableOnly = (text: string) =>
  text.split(/(?=# HELP )/).filter((family) => !/# TYPE g_(all|live\w+) gauge/.test(family)).join('');

describe('compaction', () => {
  it.each(['counter_basic', 'histogram_custom', 'summary_basic', 'mixed_realistic'])(
    'folding every process of %s keeps the merged output byte for byte',
    (fixture) => {
      const dir = copyFixture(fixture);
      const before = merged(dir);
      const ids = [...new Set(fs.readdirSync(dir).map((f) => f.replace(/\.db$/, '').split('_').pop()!))];
      const result = compactDeadProcesses(dir, ids);
      expect(result.problems).toEqual([]);
      const after = merged(dir);
      if (fixture === 'mixed_realistic') {
        // Its `all` and `livesum` gauges belong to processes, which are gone now.
        expect(fs.readdirSync(dir).sort()).toEqual(['counter_archive.db', 'histogram_archive.db', 'summary_archive.db']);
        expect(after).toBe(before.split(/(?=# HELP )/).filter((f) => !/# TYPE \S+ gauge/.test(f)).join(''));
      } else {
        expect(after).toBe(before);
        expect(fs.readdirSync(dir).every((f) => f.includes('_archive'))).toBe(true);
      }
    },
  );

  it('folds gauges by their mode: sum, min, max and mostrecent survive, all and live* go', () => {
    const dir = copyFixture('gauge_modes');
    const before = durableOnly(merged(dir));
    compactDeadProcesses(dir, ['201', '202', '203']);
    expect(merged(dir)).toBe(before);
    expect(fs.readdirSync(dir).sort()).toEqual([
      'gauge_max_archive.db', 'gauge_min_archive.db', 'gauge_mostrecent_archive.db', 'gauge_sum_archive.db',
    ]);
  });

  it('folds one process at a time into the growing archive', () => {
    const dir = copyFixture('mixed_realistic');
    const before = merged(dir).split(/(?=# HELP )/).filter((f) => !/# TYPE \S+ gauge/.test(f)).join('');
    for (const id of ['1101', '1102', '1103']) compactDeadProcesses(dir, [id]);
    expect(merged(dir)).toBe(before);
  });

  it('one merger across compactions reads a replaced archive and skips an unchanged one', () => {
    const dir = copyFixture('mixed_realistic');
    const durable = (text: string) => text.split(/(?=# HELP )/).filter((f) => !/# TYPE \S+ gauge/.test(f)).join('');
    const expected = durable(merged(dir));
    const merger = new DirectoryMerger(dir);
    for (const id of ['1101', '1102', '1103']) {
      compactDeadProcesses(dir, [id]);
      expect(durable(renderText(merger.merge().families))).toBe(expected);
    }
    const again = merger.merge();
    expect(durable(renderText(again.families))).toBe(expected);
    expect(again.stats.files).toBe(3); // the three archives, and nothing else
    expect(again.stats.bytesRead).toBe(0); // unchanged archives are not read again
  });

  const steps: CompactionStep[] = ['archives-written', 'committed', 'archives-replaced', 'sources-deleted', 'done'];
  it.each(steps)('a collector SIGKILLed after step "%s" loses nothing and counts nothing twice', (step) => {
    const dir = copyFixture('counter_basic', 'histogram_custom', 'summary_basic');
    const ids = ['101', '102', '501', '502'];
    compactDeadProcesses(dir, ['601']); // an archive exists already, so it is replaced, not created
    const before = merged(dir);
    const child = spawnSync(process.execPath, [path.join(__dirname, 'helpers', 'compact-and-crash.mjs'), dir, ids.join(','), step], { encoding: 'utf8' });
    expect(child.signal).toBe('SIGKILL');
    // A reader that comes by before any recovery sees the same totals...
    expect(merged(dir)).toBe(before);
    // ...and so does everyone after recovery, and after the compaction is run again.
    recoverCompaction(dir);
    expect(merged(dir)).toBe(before);
    compactDeadProcesses(dir, [...ids, '602']);
    expect(merged(dir)).toBe(before);
    expect(fs.readdirSync(dir).sort()).toEqual(['counter_archive.db', 'histogram_archive.db', 'summary_archive.db']);
  });

  it('deletes a corrupt dead file without folding it and reports why', () => {
    const dir = copyFixture('counter_basic');
    fs.copyFileSync(path.join(FIXTURES, 'error_corrupt_len', 'counter_1404.db'), path.join(dir, 'counter_1404.db'));
    const result = compactDeadProcesses(dir, ['101', '1404']);
    expect(result.problems).toEqual([expect.stringMatching(/^counter_1404\.db: entry at offset \d+ .* runs past used .*; deleted without folding$/)]);
    expect(fs.readdirSync(dir).sort()).toEqual(['counter_102.db', 'counter_archive.db']);
  });
});

describe('liveness and PID reuse', () => {
  it('finds the ids of dead processes, not of live ones, archives or custom ids', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
    for (const name of [`counter_${gone}.db`, `gauge_livesum_${gone}t2.db`, `counter_${process.pid}.db`, 'counter_archive.db', 'counter_uwsgi-3.db', `histogram_${process.pid}dead123.db`]) {
      fs.writeFileSync(path.join(dir, name), Buffer.alloc(8));
    }
    expect((await findDeadProcessIds(dir)).sort()).toEqual([String(gone), `${gone}t2`, `${process.pid}dead123`].sort());
  });

  it('a process that finds files under its own id hands them over as dead; nothing is lost', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const write = (n: number) => {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', `
        import { configureStorage, Counter } from '@prom-multiproc/core';
        configureStorage({ directory: process.argv[1], processId: '4242' });
        new Counter({ name: 'reused_total', help: 'h' }).inc(${n});
      `, dir], { cwd: __dirname, encoding: 'utf8' });
      expect(stderrBesidesFallbackNotice(r.stderr)).toBe('');
    };
    write(5);
    write(7); // same id, a new process: the first one's file is retired, not continued
    const names = dbFiles(dir);
    expect(names).toHaveLength(2);
    expect(names[0]).toBe('counter_4242.db');
    expect(names[1]).toMatch(/^counter_4242dead\d+\.db$/);
    expect(merged(dir)).toMatch(/^reused_total 12\.0$/m);
    const retired = names[1].slice('counter_'.length, -3);
    expect(await findDeadProcessIds(dir)).toContain(retired); // (no process 4242 runs here, so it is dead too)
    compactDeadProcesses(dir, [retired]);
    expect(dbFiles(dir)).toEqual(['counter_4242.db', 'counter_archive.db']);
    expect(merged(dir)).toMatch(/^reused_total 12\.0$/m);
  });

  it('the same process reopening its own files continues them', () => {
    const dir = tempDir();
    dirs.push(dir);
    configureStorage({ directory: dir, processId: '77' });
    new Counter({ name: 'again_total', help: 'h', registers: [] }).inc(2);
    configureStorage({ directory: dir, processId: '77' });
    new Counter({ name: 'again_total', help: 'h', registers: [] }).inc(3);
    flushWrites();
    expect(dbFiles(dir)).toEqual(['counter_77.db']);
    expect(merged(dir)).toMatch(/^again_total 5\.0$/m);
  });
});
