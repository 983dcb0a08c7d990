// The metrics directory is shared with processes we do not fully trust (docs/security.md):
// a journal, lock or signal file planted by someone else, a symlink to a device, a 2 GiB
// sparse file, files of other programs. Each case first reproduced a failure on the
// collector (deleting outside the directory, writing through a symlink, unbounded memory,
// history dropped); here each must end in a skip that is counted and named.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Compactor, DbFileReader, DirectoryMerger, MappedFile, ReadBuffer, compactDeadProcesses, recoverCompaction, renderText, sendRefreshSignal,
} from '../src/index.js';
import { FIXTURES, tempDir } from './helpers/fixtures.js';
import { PARSE_WINDOW_BYTES } from '../src/format/reader.js';

const JOURNAL = '.prom-multiproc-compaction.json';
const LOCK = '.prom-multiproc-compactor.lock';
const dirs: string[] = [];
const compactors: Compactor[] = [];
afterEach(async () => {
  for (const c of compactors.splice(0)) await c.close();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function newDir(): string {
  const dir = tempDir();
  dirs.push(dir);
  return dir;
}

function withFixture(fixture = 'counter_basic'): string {
  const dir = newDir();
  for (const f of fs.readdirSync(path.join(FIXTURES, fixture)).filter((f) => f.endsWith('.db'))) {
    fs.copyFileSync(path.join(FIXTURES, fixture, f), path.join(dir, f));
  }
  return dir;
}

const mergedText = (dir: string) => renderText(new DirectoryMerger(dir).merge().families);
const setAsideJournals = (dir: string) => fs.readdirSync(dir).filter((n) => n.startsWith(`${JOURNAL}.bad-`));

describe('the compaction journal is untrusted input', () => {
  it('a journal naming a file outside the directory deletes nothing and is set aside', () => {
    const parent = newDir();
    const dir = path.join(parent, 'metrics');
    fs.mkdirSync(dir);
    for (const f of ['counter_101.db', 'counter_102.db']) fs.copyFileSync(path.join(FIXTURES, 'counter_basic', f), path.join(dir, f));
    fs.writeFileSync(path.join(parent, 'victim'), 'keep me');
    fs.writeFileSync(path.join(dir, JOURNAL), JSON.stringify({ replace: [], remove: ['../victim'] }));
    const expected = mergedText(dir);
    const problems: string[] = [];
    expect(recoverCompaction(dir, (p) => problems.push(p))).toBe('rolled-back');
    expect(fs.readFileSync(path.join(parent, 'victim'), 'utf8')).toBe('keep me');
    expect(problems).toEqual([expect.stringMatching(/"remove" entry "\.\.\/victim" is not the name of a process's metrics file; set aside as \.prom-multiproc-compaction\.json\.bad-\d+/)]);
    expect(setAsideJournals(dir)).toHaveLength(1);
    expect(fs.existsSync(path.join(dir, JOURNAL))).toBe(false);
    expect(mergedText(dir)).toBe(expected);
  });

  const hostile: Array<[string, unknown]> = [
    ['an absolute path to remove', { replace: [], remove: ['/etc/passwd'] }],
    ['a file of another program to remove', { replace: [], remove: ['app.db'] }],
    ['an archive to remove', { replace: [], remove: ['counter_archive.db'] }],
    ['a rename out of the directory', { replace: [{ from: '.counter_archive.db.tmp', to: '../counter_archive.db' }], remove: [] }],
    ['a rename of a live file over an archive', { replace: [{ from: 'counter_101.db', to: 'counter_archive.db' }], remove: [] }],
    ['a rename onto a non-archive', { replace: [{ from: '.counter_102.db.tmp', to: 'counter_102.db' }], remove: [] }],
  ];
  it.each(hostile)('a journal with %s is never applied', (_what, journal) => {
    const dir = withFixture();
    fs.writeFileSync(path.join(dir, 'app.db'), 'not ours');
    fs.writeFileSync(path.join(dir, '.counter_102.db.tmp'), 'not ours either');
    const before = fs.readdirSync(dir).sort();
    const expected = mergedText(dir);
    fs.writeFileSync(path.join(dir, JOURNAL), JSON.stringify(journal));
    expect(mergedText(dir)).toBe(expected); // readers ignore it
    recoverCompaction(dir);
    expect(fs.readdirSync(dir).filter((n) => !n.startsWith(`${JOURNAL}.bad-`)).sort()).toEqual(before);
    expect(setAsideJournals(dir)).toHaveLength(1);
    expect(mergedText(dir)).toBe(expected);
  });

  const malformed: Array<[string, (file: string) => void]> = [
    ['garbage', (f) => fs.writeFileSync(f, '\x00\xff garbage')],
    ['truncated JSON', (f) => fs.writeFileSync(f, '{"replace":[{"from":".counter_archive.db.tmp"')],
    ['{}', (f) => fs.writeFileSync(f, '{}')],
    ['[]', (f) => fs.writeFileSync(f, '[]')],
    ['null', (f) => fs.writeFileSync(f, 'null')],
    ['wrong types', (f) => fs.writeFileSync(f, '{"replace":"counter_archive.db","remove":1}')],
    ['entries of wrong types', (f) => fs.writeFileSync(f, '{"replace":[null,3],"remove":[{}]}')],
    ['a directory', (f) => fs.mkdirSync(f)],
    ['a symlink to a journal elsewhere', (f) => {
      const elsewhere = path.join(newDir(), 'journal.json');
      fs.writeFileSync(elsewhere, JSON.stringify({ replace: [], remove: ['counter_101.db'] }));
      fs.symlinkSync(elsewhere, f);
    }],
  ];
  it.each(malformed)('a journal that is %s: readers merge everything and report it, recovery sets it aside', (_what, plant) => {
    const dir = withFixture();
    const expected = mergedText(dir);
    plant(path.join(dir, JOURNAL));
    const result = new DirectoryMerger(dir).merge();
    expect(renderText(result.families)).toBe(expected);
    expect(result.problems).toEqual([expect.objectContaining({ file: JOURNAL, problem: 'bad-journal' })]);
    // The compactor sets it aside at its next compaction, which then goes on.
    const compaction = compactDeadProcesses(dir, ['101']);
    expect(compaction.problems).toEqual([expect.stringMatching(/compaction journal .* is not one we wrote: .*; set aside as \.prom-multiproc-compaction\.json\.bad-\d+/)]);
    expect(compaction.folded).toEqual(['counter_101.db']);
    expect(setAsideJournals(dir)).toHaveLength(1);
    expect(mergedText(dir)).toBe(expected);
  });

  it('a compactor starting on a bad journal logs it once and serves read-write', async () => {
    const dir = withFixture();
    fs.writeFileSync(path.join(dir, JOURNAL), '{"replace":[],"remove":["../../x"]}');
    const logs: string[] = [];
    const compactor = await Compactor.start(dir, { sweepIntervalMs: 0, log: (m) => logs.push(m) });
    compactors.push(compactor);
    expect(compactor.isCompactor).toBe(true);
    expect(logs.filter((m) => /is not one we wrote/.test(m))).toHaveLength(1);
    expect(setAsideJournals(dir)).toHaveLength(1);
  });
});

describe('files we write are never written through a planted link', () => {
  it('the refresh signal replaces a symlink planted under its name instead of writing its target', () => {
    const dir = newDir();
    const victim = path.join(newDir(), 'victim.txt');
    fs.writeFileSync(victim, 'precious');
    fs.symlinkSync(victim, path.join(dir, '.prom-multiproc-refresh'));
    expect(sendRefreshSignal(dir)).toBe(true);
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious');
    expect(fs.lstatSync(path.join(dir, '.prom-multiproc-refresh')).isFile()).toBe(true);
    expect(fs.readFileSync(path.join(dir, '.prom-multiproc-refresh'), 'utf8')).toMatch(/^\d+\n$/);
  });

  it('a metrics file is never opened for writing through a symlink', () => {
    const dir = newDir();
    const victim = path.join(newDir(), 'victim.txt');
    fs.writeFileSync(victim, 'precious');
    fs.symlinkSync(victim, path.join(dir, 'counter_4243.db'));
    expect(() => MappedFile.open(path.join(dir, 'counter_4243.db'))).toThrow(/ELOOP/);
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious');
  });

  it('the refresh signal replaces a hard link planted under its name', () => {
    const dir = newDir();
    const victim = path.join(dir, 'victim.txt');
    fs.writeFileSync(victim, 'precious');
    fs.linkSync(victim, path.join(dir, '.prom-multiproc-refresh'));
    expect(sendRefreshSignal(dir)).toBe(true);
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious');
  });
});

describe('bounded reads', () => {
  it('a 2 GiB sparse file whose header claims it all is skipped as too-large without reading it', () => {
    const dir = withFixture();
    const sparse = path.join(dir, 'counter_77.db');
    const fd = fs.openSync(sparse, 'w');
    fs.ftruncateSync(fd, 2 ** 31);
    const header = Buffer.alloc(8);
    header.writeInt32LE(2 ** 31 - 1, 0);
    fs.writeSync(fd, header, 0, 8, 0);
    fs.closeSync(fd);
    const merger = new DirectoryMerger(dir);
    const result = merger.merge();
    expect(result.problems).toEqual([expect.objectContaining({ file: 'counter_77.db', problem: 'too-large' })]);
    expect(result.stats.bytesRead).toBeLessThan(64 * 1024);
    expect(renderText(result.families)).toMatch(/^jobs_total 4\.0$/m);
  });

  it('a large corrupt file is read once, not once per scrape, and the read buffer does not keep its size', () => {
    const dir = newDir();
    const big = path.join(dir, 'counter_78.db');
    const fd = fs.openSync(big, 'w');
    const used = 200 * 1024 * 1024; // under the limit: read, found corrupt (a zero key length)
    fs.ftruncateSync(fd, used);
    const header = Buffer.alloc(8);
    header.writeInt32LE(used, 0);
    fs.writeSync(fd, header, 0, 8, 0);
    fs.closeSync(fd);
    const small = path.join(FIXTURES, 'counter_basic', 'counter_101.db');
    const scratch = new ReadBuffer();
    const reader = new DbFileReader(big);
    const first = reader.read(scratch);
    expect(first).toMatchObject({ ok: false, problem: 'corrupt' });
    // Keys are parsed a window at a time: the bad first entry is found in the first window, the rest is never read.
    expect(reader.bytesRead).toBe(8 + PARSE_WINDOW_BYTES);
    expect(reader.read(scratch)).toEqual(first);
    expect(reader.bytesRead).toBe(0); // unchanged since it failed: not read again
    expect(new DbFileReader(small).read(scratch)).toMatchObject({ ok: true });
    expect(scratch.buf.length).toBeLessThanOrEqual(PARSE_WINDOW_BYTES);
  });

  // /dev/zero and FIFOs are tested through `dump` in a child process (test/hostile-directory.test.ts):
  // a regression there would block or eat memory in this process.
  it('a directory or a symlink to a device named *.db is skipped as not-regular-file', () => {
    const dir = withFixture();
    fs.symlinkSync('/dev/null', path.join(dir, 'counter_91.db'));
    fs.mkdirSync(path.join(dir, 'counter_92.db'));
    const result = new DirectoryMerger(dir).merge();
    expect(result.problems.map((p) => [p.file, p.problem])).toEqual([
      ['counter_91.db', 'not-regular-file'], ['counter_92.db', 'not-regular-file'],
    ]);
    expect(renderText(result.families)).toMatch(/^jobs_total 4\.0$/m);
  });
});

describe('we delete only files whose names we create', () => {
  it('startup=clear removes our files and leaves everything else, a directory named *.db included', async () => {
    const dir = withFixture();
    const ours = [
      'counter_archive.db', 'gauge_livesum_4242.db', 'histogram_12dead1700000000000.db', '.counter_archive.db.tmp',
      JOURNAL, `${JOURNAL}.tmp`, '.prom-multiproc-fallback-4242',
    ];
    const theirs = ['app.db', 'sessions.sqlite.db', `${JOURNAL}.bak`, '.x.db.tmp', '.sessions.sqlite.db.tmp', 'counter_a_b.db', 'notes.txt'];
    for (const name of [...ours, ...theirs]) fs.writeFileSync(path.join(dir, name), 'x');
    fs.mkdirSync(path.join(dir, 'backup.db'));
    fs.mkdirSync(path.join(dir, 'counter_5.db'));
    const logs: string[] = [];
    const compactor = await Compactor.start(dir, { startup: 'clear', sweepIntervalMs: 0, log: (m) => logs.push(m) });
    compactors.push(compactor);
    expect(compactor.isCompactor).toBe(true);
    expect(fs.readdirSync(dir).filter((n) => n !== LOCK).sort()).toEqual([...theirs, 'backup.db', 'counter_5.db'].sort());
    expect(logs).toContainEqual(expect.stringMatching(/startup=clear left .*counter_5\.db: a directory/));
  });

  it('recovery and compaction leave dot-temps that are not ours', () => {
    const dir = withFixture();
    for (const name of ['.x.db.tmp', '.sessions.sqlite.db.tmp', '.counter_101.db.tmp']) fs.writeFileSync(path.join(dir, name), 'x');
    recoverCompaction(dir);
    compactDeadProcesses(dir, ['101']);
    expect(fs.readdirSync(dir).sort()).toEqual(['.counter_101.db.tmp', '.sessions.sqlite.db.tmp', '.x.db.tmp', 'counter_102.db', 'counter_archive.db']);
  });
});

describe('lock tampering', () => {
  it('a lock directory dated a year ahead is taken as stale', async () => {
    const dir = withFixture();
    fs.mkdirSync(path.join(dir, LOCK));
    const future = new Date(Date.now() + 365 * 24 * 3600 * 1000);
    fs.utimesSync(path.join(dir, LOCK), future, future);
    const logs: string[] = [];
    const compactor = await Compactor.start(dir, { sweepIntervalMs: 0, log: (m) => logs.push(m) });
    compactors.push(compactor);
    expect(compactor.isCompactor).toBe(true);
    expect(logs).toContainEqual(expect.stringMatching(/in the future; taken as stale/));
  });

  it.each([
    ['a regular file', (p: string) => fs.writeFileSync(p, 'x')],
    ['a symlink', (p: string) => fs.symlinkSync('/nonexistent/lock', p)],
    ['a symlink to a directory', (p: string) => fs.symlinkSync('/tmp', p)],
  ])('a stale lock that is %s is set aside and the collector compacts', async (_what, plant) => {
    const dir = withFixture();
    plant(path.join(dir, LOCK));
    const logs: string[] = [];
    const compactor = await Compactor.start(dir, { sweepIntervalMs: 0, log: (m) => logs.push(m) });
    compactors.push(compactor);
    expect(compactor.isCompactor).toBe(true);
    expect(logs).toContainEqual(expect.stringMatching(/not a lock directory; set aside as \.prom-multiproc-compactor\.lock\.bad-\d+/));
  });

  it('a lock that cannot be taken at all (directory gone) leaves a read-only collector that says so and counts it', async () => {
    const dir = withFixture();
    const logs: string[] = [];
    fs.rmSync(dir, { recursive: true });
    const compactor = await Compactor.start(dir, { sweepIntervalMs: 0, log: (m) => logs.push(m) });
    compactors.push(compactor);
    expect(compactor.isCompactor).toBe(false);
    expect(logs).toContainEqual(expect.stringMatching(/cannot take the compaction lock .* serves read-only/));
    const errors = compactor.selfMetrics().find((f) => f.name === 'prom_multiproc_compaction_errors')!.samples[0].value;
    expect(errors).toBe(1);
  });
});

describe('a corrupt archive', () => {
  it('keeps its last good values in the merge, is reported, and nothing is folded onto it: counters never go backwards', () => {
    const dir = withFixture();
    compactDeadProcesses(dir, ['101']);
    const merger = new DirectoryMerger(dir);
    const before = renderText(merger.merge().families);
    expect(before).toMatch(/^jobs_total 4\.0$/m);
    // Damaged in place (a disk error, someone's cp): truncated mid-entry.
    const archive = path.join(dir, 'counter_archive.db');
    const bytes = fs.readFileSync(archive);
    fs.writeFileSync(archive, bytes.subarray(0, 40));
    const during = merger.merge();
    expect(renderText(during.families)).toBe(before);
    expect(during.problems).toEqual([expect.objectContaining({ file: 'counter_archive.db', problem: 'stale-archive' })]);
    // The compactor refuses to fold onto it: the dead file stays and is still merged.
    const compaction = compactDeadProcesses(dir, ['102']);
    expect(compaction.folded).toEqual([]);
    expect(compaction.problems).toEqual([expect.stringMatching(/counter_archive\.db: .*its dead files stay until it is repaired/)]);
    const again = merger.merge();
    expect(renderText(again.families)).toBe(before);
    expect(again.problems).toEqual([expect.objectContaining({ file: 'counter_archive.db', problem: 'stale-archive' })]); // every scrape
    // Repaired (restored in place from a backup): its values are read again.
    fs.writeFileSync(archive, bytes);
    const repaired = merger.merge();
    expect(repaired.problems).toEqual([]);
    expect(renderText(repaired.families)).toBe(before);
  });
});
