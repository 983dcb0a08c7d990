// One dead file that cannot be folded (a directory named like a metrics file, a file this
// collector may not read, another user's file in a sticky directory) is left in place and
// counted; every other dead file is still folded, no journal is left behind, and a
// collector that ignores the journal (Python's) never counts anything twice.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Compactor, Counter, DirectoryMerger, compactDeadProcesses, configureStorage } from '../src/index.js';
import { JOURNAL_NAME } from '../src/collect/compaction.js';
import { DbFileReader, ReadBuffer } from '../src/format/reader.js';
import { tempDir } from './helpers/fixtures.js';

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'esm', 'index.js');
const NOBODY = 65534;

const dirs: string[] = [];
afterEach(() => {
  configureStorage();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A pid that was just used and is gone. */
function deadPid(): string {
  return String(spawnSync(process.execPath, ['-e', '']).pid);
}

function writeCounter(dir: string, id: string, value: number): string {
  configureStorage({ directory: dir, processId: id });
  new Counter({ name: 'jobs_total', help: 'Jobs.', registers: [] }).inc(value);
  configureStorage();
  return path.join(dir, `counter_${id}.db`);
}

/** Our merge's total of jobs_total. */
function mergedTotal(dir: string): number {
  const family = new DirectoryMerger(dir).merge().families.find((f) => f.name === 'jobs');
  return family ? family.samples.reduce((sum, s) => sum + s.value, 0) : 0;
}

/** What Python's collector sums: every counter_*.db file, journal ignored. */
function journalBlindTotal(dir: string): number {
  let total = 0;
  for (const name of fs.readdirSync(dir)) {
    if (!/^counter_.*\.db$/.test(name) || !fs.statSync(path.join(dir, name)).isFile()) continue;
    const reader = new DbFileReader(path.join(dir, name), {});
    expect(reader.read(new ReadBuffer()).ok).toBe(true);
    for (let i = 0; i < reader.entryCount; i++) total += reader.values[i];
  }
  return total;
}

describe('a dead file that cannot be folded', () => {
  it('a directory named counter_<pid>.db is left in place; the others fold, now and at later sweeps', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const [a, b, c] = [deadPid(), deadPid(), deadPid()];
    writeCounter(dir, a, 5);
    fs.mkdirSync(path.join(dir, `counter_${b}.db`));
    fs.mkdirSync(path.join(dir, `gauge_livesum_${b}.db`));
    writeCounter(dir, c, 7);
    const logs: string[] = [];
    const compactor = await Compactor.start(dir, { sweepIntervalMs: 0, log: (m) => logs.push(m) });
    try {
      expect(compactor.isCompactor).toBe(true);
      expect(fs.existsSync(path.join(dir, `counter_${a}.db`))).toBe(false);
      expect(fs.existsSync(path.join(dir, `counter_${c}.db`))).toBe(false);
      expect(fs.statSync(path.join(dir, `counter_${b}.db`)).isDirectory()).toBe(true);
      expect(fs.existsSync(path.join(dir, JOURNAL_NAME))).toBe(false);
      expect(mergedTotal(dir)).toBe(12);
      expect(logs.filter((m) => m.includes(`counter_${b}.db: not a regular file`))).toHaveLength(1);

      // A later death is folded too: the directory does not stop compaction.
      const d = deadPid();
      writeCounter(dir, d, 30);
      expect(await compactor.sweep()).toEqual([d]);
      expect(await compactor.sweep()).toEqual([]);
      expect(fs.existsSync(path.join(dir, `counter_${d}.db`))).toBe(false);
      expect(mergedTotal(dir)).toBe(42);
      expect(logs.filter((m) => m.includes(`counter_${b}.db: not a regular file`))).toHaveLength(1); // logged once
      const text = compactor.selfMetrics().map((f) => `${f.name} ${f.samples.map((s) => s.value).join(',')}`);
      expect(text).toContain('prom_multiproc_compaction_errors 0');
      expect(text.find((t) => t.startsWith('prom_multiproc_compaction_files_skipped '))).toMatch(/ [1-9]\d*$/);
    } finally {
      await compactor.close();
    }
  });

  it('as a non-root collector: another uid\'s file in a sticky directory and an unreadable file stay; no journal; nothing counted twice', () => {
    expect(process.getuid?.(), 'this test runs a collector as uid 65534 and needs root to set that up').toBe(0);
    const dir = tempDir();
    dirs.push(dir);
    fs.chmodSync(dir, 0o1777); // sticky, like /tmp
    const [rootsFile, ours, unreadable] = [deadPid(), deadPid(), deadPid()];
    writeCounter(dir, rootsFile, 5); // owned by root: uid 65534 may read it but not delete it
    fs.chownSync(writeCounter(dir, ours, 7), NOBODY, NOBODY);
    const locked = writeCounter(dir, unreadable, 11);
    fs.chownSync(locked, NOBODY, NOBODY);
    fs.chmodSync(locked, 0o000);
    expect(mergedTotal(dir)).toBe(23);

    const script = `
      const { compactDeadProcesses } = await import(${JSON.stringify(DIST)});
      const result = compactDeadProcesses(process.argv[1], process.argv.slice(2));
      console.log(JSON.stringify(result));`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script, dir, rootsFile, ours, unreadable], {
      uid: NOBODY, gid: NOBODY, encoding: 'utf8',
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const result = JSON.parse(run.stdout) as { folded: string[]; skipped: string[]; problems: string[] };
    expect(result.folded).toEqual([`counter_${ours}.db`]);
    expect(result.skipped.sort()).toEqual([`counter_${rootsFile}.db`, `counter_${unreadable}.db`].sort());
    expect(result.problems.join('\n')).toMatch(/sticky directory/);
    expect(fs.existsSync(path.join(dir, JOURNAL_NAME))).toBe(false);
    expect(fs.existsSync(path.join(dir, `counter_${rootsFile}.db`))).toBe(true);
    expect(fs.existsSync(path.join(dir, `counter_${ours}.db`))).toBe(false);
    expect(mergedTotal(dir)).toBe(23);
    expect(journalBlindTotal(dir)).toBe(23);
    // compactDeadProcesses from src is the same code: a second pass as root folds the rest.
    compactDeadProcesses(dir, [rootsFile, unreadable]);
    expect(mergedTotal(dir)).toBe(23);
    expect(fs.readdirSync(dir).filter((n) => n.endsWith('.db'))).toEqual(['counter_archive.db']);
  });
});
