// The exemplars a scrape serves: every process's exemplar file read (torn records left out,
// format/exemplar-file.ts), the most recent exemplar per sample kept, whichever process
// wrote it. Samples are matched by their exposition prefix (`name{labels} `), which the
// merge keeps for every merged sample. Exemplars of folded (dead) processes are dropped:
// the compaction deletes their files with their `.db` files.
import fs from 'node:fs';
import path from 'node:path';
import { EXEMPLAR_FILE_PREFIX, readExemplarFile, type StoredExemplar } from '../format/exemplar-file.js';
import { floatToGoString } from '../format/number.js';
import { samplePrefix, sortedPairs } from './exposition.js';

/** Exposition prefix of a sample -> the exemplar suffix to append (` # {labels} value timestamp`). */
export type ExemplarIndex = Map<string, string>;

export interface ExemplarProblem {
  file: string;
  reason: string;
}

/** Exposition prefix of a sample -> its newest exemplar, whichever process wrote it. */
export type NewestExemplars = Map<string, StoredExemplar>;

/** Reads every exemplar file in `dir`; the newest exemplar per sample wins. Bad files are skipped and reported. */
export function readNewestExemplars(dir: string, onProblem: (problem: ExemplarProblem) => void): NewestExemplars {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return new Map();
  }
  const newest = new Map<string, StoredExemplar>();
  for (const name of names) {
    if (!name.startsWith(EXEMPLAR_FILE_PREFIX)) continue;
    let stored: StoredExemplar[];
    try {
      stored = readExemplarFile(path.join(dir, name));
    } catch (err) {
      // Gone since the listing (its process was folded): nothing to report.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      onProblem({ file: name, reason: err instanceof Error ? err.message : String(err) });
      continue;
    }
    for (const exemplar of stored) {
      // Only where OpenMetrics allows them: counter totals and histogram buckets.
      const sample = exemplar.key.sampleName;
      if (!sample.endsWith('_total') && !sample.endsWith('_bucket')) continue;
      const prefix = samplePrefix(sample, sortedPairs(exemplar.key.labels));
      const known = newest.get(prefix);
      if (!known || exemplar.timestamp > known.timestamp) newest.set(prefix, exemplar);
    }
  }
  return newest;
}

/** The OpenMetrics suffix of every sample's newest exemplar (` # {labels} value timestamp`). */
export function readDirectoryExemplars(dir: string, onProblem: (problem: ExemplarProblem) => void): ExemplarIndex {
  const index: ExemplarIndex = new Map();
  for (const [prefix, e] of readNewestExemplars(dir, onProblem)) index.set(prefix, ` # {${e.labels}} ${floatToGoString(e.value)} ${e.timestamp}`);
  return index;
}

const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
const ESCAPED = /\\(.)/g;

/** The label pairs of an exemplar's stored label text (`a="b",c="d"`, OpenMetrics escaping), for the protobuf exposition. */
export function exemplarLabelPairs(text: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const [, name, value] of text.matchAll(LABEL_PAIR)) {
    pairs.push([name, value.replace(ESCAPED, (_, c: string) => (c === 'n' ? '\n' : c))]);
  }
  return pairs;
}
