// Folds the files of dead processes into archive files and deletes them, so the
// directory follows the live processes (DESIGN promise 6) without losing or doubling a
// count (promises 2, 3).
//
// The commit point is a journal. Steps:
//   1. write each new archive as a hidden temp file (`.<archive>.tmp`), fsync;
//   2. write the journal (temp + rename): which temps replace which archives and which
//      dead files go. This rename is the commit point;
//   3. rename the temps over the archives; 4. delete the dead files; 5. delete the journal.
// A crash before 2 leaves the old archives and the dead files: recovery deletes the temps.
// A crash after 2: recovery redoes 3-5, each step idempotent. A reader that lists the
// directory while a journal exists reads the temp in place of its archive and skips the
// files the journal deletes (`visibleFiles`), so every state in between merges to the
// same totals. (Python's collector ignores the journal: between steps 3 and 4 it can
// count a dead process twice for a moment.)
import fs from 'node:fs';
import path from 'node:path';
import { CorruptFileError } from '../format/entries.js';
import { buildFileImage } from '../format/file-image.js';
import { exemplarFileName } from '../format/exemplar-file.js';
import { ARCHIVE_ID, dbFileName, fallbackMarkerName, parseDbFileName, parseSideFileName, sideFileName } from '../format/names.js';
import { setAside, writeNewFile } from '../format/safe-files.js';
import { Fold, foldRuleFor, foldRuleForSide, type CheckedKeys, type FoldRule } from './fold.js';
import {
  ARCHIVE_TEMP, BadJournalError, JOURNAL_NAME, JOURNAL_TEMP_NAME, readJournal, removeOwnFile, type Journal,
} from './journal.js';
import type { MergeProblem } from './merge.js';

export { ARCHIVE_TEMP, JOURNAL_NAME, readJournal };

export type CompactionStep = 'archives-written' | 'committed' | 'archives-replaced' | 'sources-deleted' | 'done';

export interface CompactionResult {
  /** Dead files whose values are now in an archive. */
  folded: string[];
  /** Dead files deleted without folding (live gauges, `all` gauges, unreadable files). */
  dropped: string[];
  archives: string[];
  /** Problems that kept a file or an archive out of this compaction. */
  problems: string[];
  /** Dead files left in place, neither folded nor deleted (not regular, unreadable, not deletable by us). */
  skipped: string[];
}

export interface CompactionHooks {
  /** Called after each step; tests throw or exit here to simulate a crash. */
  afterStep?: (step: CompactionStep) => void;
  /** Keys known to be well-formed, kept across compactions by the caller. */
  checkedKeys?: CheckedKeys;
  /**
   * Asked once per dead id after the directory is listed: false leaves that id's files
   * alone (a new process has claimed the id since it was judged dead; collect/liveness.ts).
   */
  isStillDead?: (id: string) => boolean;
}

/** Folds every file of the processes `deadIds` into the archives. */
export function compactDeadProcesses(dir: string, deadIds: Iterable<string>, hooks: CompactionHooks = {}): CompactionResult {
  const result: CompactionResult = { folded: [], dropped: [], archives: [], problems: [], skipped: [] };
  recoverCompaction(dir, (problem) => result.problems.push(problem));
  const dead = new Set(deadIds);
  dead.delete(ARCHIVE_ID);
  const groups = new Map<string, { rule: FoldRule; sources: string[] }>();
  const dirStat = fs.statSync(dir);
  const names = fs.readdirSync(dir).sort();
  if (hooks.isStillDead) for (const id of dead) if (!hooks.isStillDead(id)) dead.delete(id);
  for (const name of names) {
    // A `.db` file, or a side file (folded the same way, in the same journal: one commit point).
    const parsed = parseDbFileName(name);
    const side = parsed ? null : parseSideFileName(name);
    const id = parsed?.id ?? side?.id;
    if (id === undefined || !dead.has(id)) continue;
    // A file we could not delete after folding it would be counted twice (by Python's
    // collector, which ignores the journal) and would leave the journal behind for good:
    // such a file stays where it is, unfolded, and the others are folded.
    const unfoldable = whyNotFoldable(dirStat, path.join(dir, name));
    if (unfoldable) {
      result.problems.push(`${name}: ${unfoldable}; left in place, not folded`);
      result.skipped.push(name);
      continue;
    }
    const rule = parsed ? foldRuleFor(parsed.type, parsed.mode) : foldRuleForSide(side!.kind);
    if (!rule) {
      result.dropped.push(name);
      continue;
    }
    const archive = parsed ? dbFileName(parsed.type, ARCHIVE_ID, parsed.mode) : sideFileName(side!.kind, ARCHIVE_ID);
    const group = groups.get(archive) ?? { rule, sources: [] };
    group.sources.push(name);
    groups.set(archive, group);
  }
  const journal: Journal = { replace: [], remove: [...result.dropped] };
  for (const [archive, { rule, sources }] of groups) {
    const fold = new Fold(rule, hooks.checkedKeys);
    const archivePath = path.join(dir, archive);
    if (fs.existsSync(archivePath)) {
      try {
        fold.add(archivePath);
      } catch (err) {
        result.problems.push(`${archive}: ${err instanceof CorruptFileError ? err.reason : (err as Error).message}; its dead files stay until it is repaired`);
        result.skipped.push(...sources);
        continue;
      }
    }
    const folded: string[] = [];
    for (const name of sources) {
      try {
        fold.add(path.join(dir, name));
        folded.push(name);
      } catch (err) {
        if (!(err instanceof CorruptFileError)) {
          // Unreadable now (permissions, I/O): maybe readable later; its values are kept.
          result.problems.push(`${name}: ${(err as Error).message}; left in place, not folded`);
          result.skipped.push(name);
          continue;
        }
        // Its values were never merged (the merge skips it too): nothing to keep.
        result.problems.push(`${name}: ${err.reason}; deleted without folding`);
        result.dropped.push(name);
        journal.remove.push(name);
      }
    }
    if (folded.length === 0) continue;
    const temp = `.${archive}.tmp`;
    writeDurably(path.join(dir, temp), buildFileImage(fold.entries()));
    journal.replace.push({ from: temp, to: archive });
    journal.remove.push(...folded);
    result.folded.push(...folded);
    result.archives.push(archive);
  }
  // A dead process's fallback marker describes files that are going: it goes too. So do its
  // exemplars (the archives have no place for them; dropping them is allowed).
  for (const id of dead) {
    fs.rmSync(path.join(dir, fallbackMarkerName(id)), { force: true });
    fs.rmSync(path.join(dir, exemplarFileName(id)), { force: true });
  }
  if (journal.replace.length === 0 && journal.remove.length === 0) return result;
  hooks.afterStep?.('archives-written');
  const journalTemp = path.join(dir, JOURNAL_TEMP_NAME);
  writeDurably(journalTemp, Buffer.from(JSON.stringify(journal)));
  fs.renameSync(journalTemp, path.join(dir, JOURNAL_NAME));
  syncDirectory(dir);
  hooks.afterStep?.('committed');
  applyJournal(dir, journal, hooks);
  return result;
}

/**
 * Finishes or undoes a compaction that a crash interrupted. Returns what it did.
 * Call before reading a directory that a compactor may have left mid-way. A journal we
 * did not write is set aside (renamed `<journal>.bad-<ms>`) and reported to `report`,
 * never applied; then the compaction it may belong to is rolled back.
 */
export function recoverCompaction(dir: string, report: (problem: string) => void = () => {}): 'nothing' | 'rolled-forward' | 'rolled-back' {
  let journal: Journal | undefined;
  let setAsideJournal = false;
  try {
    journal = readJournal(dir);
  } catch (err) {
    if (!(err instanceof BadJournalError)) throw err;
    const aside = setAside(dir, JOURNAL_NAME);
    report(`${err.message}; set aside as ${aside}, nothing in it applied`);
    setAsideJournal = true;
  }
  if (journal) {
    applyJournal(dir, journal, {});
    return 'rolled-forward';
  }
  let removed = false;
  for (const name of fs.readdirSync(dir)) {
    if (ARCHIVE_TEMP.test(name) || name === JOURNAL_TEMP_NAME) {
      removeOwnFile(path.join(dir, name));
      removed = true;
    }
  }
  return removed || setAsideJournal ? 'rolled-back' : 'nothing';
}

/**
 * The files a reader should merge: name -> path. While a journal exists, a pending temp
 * stands in for its archive and the files it deletes are skipped. A journal we did not
 * write is ignored (and reported in `problems`): readers never act on it.
 */
export function visibleFiles(dir: string, names: readonly string[], problems?: MergeProblem[]): Map<string, string> {
  const visible = new Map(names.map((n) => [n, path.join(dir, n)]));
  let journal: Journal | undefined;
  try {
    journal = readJournal(dir);
  } catch (err) {
    if (!(err instanceof BadJournalError)) throw err;
    problems?.push({ file: JOURNAL_NAME, problem: 'bad-journal', reason: `${err.reason}; ignored` });
  }
  if (!journal) return visible;
  for (const name of journal.remove) visible.delete(name);
  for (const { from, to } of journal.replace) {
    if (fs.existsSync(path.join(dir, from))) visible.set(to, path.join(dir, from));
  }
  return visible;
}

function applyJournal(dir: string, journal: Journal, hooks: CompactionHooks): void {
  for (const { from, to } of journal.replace) {
    try {
      fs.renameSync(path.join(dir, from), path.join(dir, to));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // renamed before a crash
    }
  }
  syncDirectory(dir);
  hooks.afterStep?.('archives-replaced');
  for (const name of journal.remove) removeOwnFile(path.join(dir, name));
  syncDirectory(dir);
  hooks.afterStep?.('sources-deleted');
  fs.rmSync(path.join(dir, JOURNAL_NAME), { force: true });
  hooks.afterStep?.('done');
}

/**
 * Why a dead process's file cannot be folded by this process, or null: it is not a
 * regular file (a directory or FIFO named like one), or it is another user's file in a
 * sticky directory (`/tmp`-like: only its owner or the directory's owner may delete it).
 */
function whyNotFoldable(dirStat: fs.Stats, file: string): string | null {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(file);
  } catch (err) {
    return `cannot be examined (${(err as NodeJS.ErrnoException).code})`;
  }
  if (!stat.isFile()) return 'not a regular file';
  const euid = process.geteuid?.();
  if (euid !== undefined && euid !== 0 && (dirStat.mode & 0o1000) !== 0 && stat.uid !== euid && dirStat.uid !== euid) {
    return `owned by uid ${stat.uid} in a sticky directory, so this collector (uid ${euid}) could not delete it`;
  }
  return null;
}

/** A new file, fsynced; never written through a symlink or hard link planted under its name. */
function writeDurably(file: string, data: Buffer): void {
  try {
    writeNewFile(file, data, true);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ERR_FS_EISDIR' && code !== 'EISDIR') throw err;
    removeOwnFile(file); // a directory planted under the temp's name: moved aside
    writeNewFile(file, data, true);
  }
}

function syncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
