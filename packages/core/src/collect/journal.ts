// The compaction journal, read as untrusted input. Whoever can write the directory can
// write a journal, and the compactor acts on it (renames, deletes): so every entry must be
// a plain name that the compaction itself writes (docs/security.md). A journal that is
// not one we could have written is never applied; the compactor sets it aside.
import fs from 'node:fs';
import path from 'node:path';
import { ARCHIVE_ID, isOwnMetricsFileName, isOwnSideFileName, parseDbFileName, parseSideFileName } from '../format/names.js';
import { readOwnFile } from '../format/safe-files.js';
import { foldRuleFor, foldRuleForSide } from './fold.js';

export const JOURNAL_NAME = '.prom-multiproc-compaction.json';
/** Temp names of the journal and of new archives: only these dot-files are ever ours to delete. */
export const JOURNAL_TEMP_NAME = `${JOURNAL_NAME}.tmp`;
export const ARCHIVE_TEMP = /^\.((?:counter|histogram|summary|gauge_(?:sum|min|max|mostrecent)|\.nativehistogram)_archive\.db)\.tmp$/;

/** Journals list file names; even 100,000 dead files fit in a few MiB. */
const MAX_JOURNAL_BYTES = 16 * 1024 * 1024;

export interface Journal {
  replace: Array<{ from: string; to: string }>;
  remove: string[];
}

/** A journal we did not write (or cannot read): `reason` says why. */
export class BadJournalError extends Error {
  constructor(readonly reason: string) {
    super(`compaction journal ${JOURNAL_NAME} is not one we wrote: ${reason}`);
  }
}

/** The journal in `dir`, undefined if there is none; throws BadJournalError for anything else. */
export function readJournal(dir: string): Journal | undefined {
  let text: string;
  try {
    // Without following a symlink, without blocking on a FIFO, only a regular file.
    text = readOwnFile(path.join(dir, JOURNAL_NAME), MAX_JOURNAL_BYTES).toString('utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw new BadJournalError('a symlink');
    throw new BadJournalError(code ? `cannot read it (${code})` : (err as Error).message);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BadJournalError('not JSON (garbage or truncated)');
  }
  return checkJournal(value);
}

/** Checks a parsed journal entry by entry. */
export function checkJournal(value: unknown): Journal {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BadJournalError('not a JSON object');
  const { replace, remove, ...rest } = value as Record<string, unknown>;
  if (Object.keys(rest).length > 0) throw new BadJournalError(`unknown fields ${Object.keys(rest).join(', ')}`);
  if (!Array.isArray(replace) || !Array.isArray(remove)) throw new BadJournalError('"replace" and "remove" must be arrays');
  const seen = new Set<string>();
  for (const step of replace as unknown[]) {
    const { from, to } = (typeof step === 'object' && step !== null ? step : {}) as Record<string, unknown>;
    if (typeof from !== 'string' || typeof to !== 'string') throw new BadJournalError('a "replace" entry is not {from, to} names');
    if (!isArchiveName(to) || !isPlainName(to)) {
      throw new BadJournalError(`"replace" target ${JSON.stringify(to)} is not an archive name`);
    }
    if (from !== `.${to}.tmp`) throw new BadJournalError(`"replace" source ${JSON.stringify(from)} is not the temp of ${to}`);
    if (seen.has(to)) throw new BadJournalError(`${to} is replaced twice`);
    seen.add(to);
  }
  for (const name of remove as unknown[]) {
    if (typeof name !== 'string' || !isPlainName(name) || !isProcessFileName(name)) {
      throw new BadJournalError(`"remove" entry ${JSON.stringify(name)} is not the name of a process's metrics file`);
    }
  }
  return { replace: replace as Journal['replace'], remove: remove as string[] };
}

/** The name of an archive the compaction writes: of a `.db` type or a side-file kind that folds. */
function isArchiveName(name: string): boolean {
  const db = parseDbFileName(name);
  if (db) return db.id === ARCHIVE_ID && foldRuleFor(db.type, db.mode) !== null;
  const side = parseSideFileName(name);
  return side !== null && side.id === ARCHIVE_ID && foldRuleForSide(side.kind) !== null;
}

/** A process's own metrics or side file (not an archive): what a compaction may delete. */
function isProcessFileName(name: string): boolean {
  if (isOwnMetricsFileName(name)) return parseDbFileName(name)!.id !== ARCHIVE_ID;
  return isOwnSideFileName(name) && parseSideFileName(name)!.id !== ARCHIVE_ID;
}

/** One name in the directory: no separator, not `.` or `..`, no NUL. */
function isPlainName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !/[/\\\0]/.test(name) && path.basename(name) === name;
}

/** fs helper kept here so callers need not know which errors mean "not a file we can remove". */
export function removeOwnFile(file: string): void {
  try {
    fs.rmSync(file, { force: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // A directory planted under one of our names: move it out of the way, never recurse into it.
    if (code === 'ERR_FS_EISDIR' || code === 'EISDIR') fs.renameSync(file, `${file}.bad-${Date.now()}`);
    else throw err;
  }
}
