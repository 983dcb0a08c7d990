// What keeping the workers' files mapped costs and saves (issue 15, collector peak RSS).
// After a file's first read, the collector copies each entry's value out of a read-only
// mapping it keeps (format/reader.ts, native/mmap.c): every page of every file is then in
// its page tables, so the workers' used bytes count in its RSS as file pages (shared with
// the workers' own mappings: the page cache, not memory of its own). The other way to
// read only the values: map each file, copy, unmap (`DbFileReader#close()` after each
// read), so at most one file's pages are mapped at a time. This times one read of every
// file of the directory both ways, alternated, with the same readers, and reports the
// file pages mapped after a read of all files.
//
//   node --expose-gc bench/read-mappings.mjs [--cell 8x10000] [--rounds 40]
//   TMPDIR=/dev/shm node --expose-gc bench/read-mappings.mjs     (the directory on tmpfs)
//
// What a map costs depends on the page cache's pages: files the workers wrote through
// their mappings on ext4 (this machine's /tmp) are held in large folios, mapped a few
// page-table entries at a time; on tmpfs every 4 KiB page is one.
// A diagnostic, not part of `pnpm bench`: no peer, no target.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : fallback;
};
const [workers, series] = arg('--cell', '8x10000').split('x').map(Number);
const rounds = Number(arg('--rounds', '40'));
const core = path.join(root, 'packages/core/dist/esm');

/** This process's mapped file pages (RssFile + RssShmem), MB. */
function filePagesMb() {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  return ((kb('RssFile') + kb('RssShmem')) / 1024).toFixed(1);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'read-mappings-'));
try {
  for (let w = 0; w < workers; w++) {
    execFileSync(process.execPath, ['--input-type=module', '-e', `
      const lib = await import(${JSON.stringify(path.join(core, 'index.js'))});
      const { runWorkload } = await import(${JSON.stringify(path.join(root, 'bench/workload.mjs'))});
      runWorkload(lib, ${series}, ${w}, []);`], { env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir }, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const { DbFileReader, ReadBuffer } = await import(path.join(core, 'format/reader.js'));
  const scratch = new ReadBuffer();
  const names = fs.readdirSync(dir).filter((f) => f.endsWith('.db')).sort();
  // onKey: keys are not decoded or kept (as the collector's readers do). One set of readers
  // per way: those that keep their mappings, those that unmap after each read.
  const readersOf = () => names.map((name) => new DbFileReader(path.join(dir, name), { onKey: () => {}, timestamps: name.startsWith('gauge') }));
  const keptReaders = readersOf();
  const unmappingReaders = readersOf();
  const usedBytes = names.reduce((n, name) => {
    const header = Buffer.alloc(4);
    const fd = fs.openSync(path.join(dir, name), 'r');
    fs.readSync(fd, header, 0, 4, 0);
    fs.closeSync(fd);
    return n + header.readInt32LE(0);
  }, 0);
  const readAll = (readers, unmapAfter) => {
    const started = process.hrtime.bigint();
    for (const reader of readers) {
      const outcome = reader.read(scratch);
      if (!outcome.ok) throw new Error(`${reader.path}: ${outcome.reason}`);
      if (unmapAfter) reader.close();
    }
    return Number(process.hrtime.bigint() - started) / 1e6;
  };
  // First reads: parsed from read(), nothing mapped yet. Then the file pages of the kept
  // mappings are measured before the other readers map anything, and the other way's after
  // the kept mappings are gone.
  readAll(keptReaders, false);
  readAll(unmappingReaders, true);
  const kept = [];
  const perRead = [];
  let keptPages;
  let perReadPages;
  for (let r = 0; r < rounds; r++) {
    // Alternated, so both ways see the same load from the rest of the machine.
    if (r % 2 === 0) kept.push(readAll(keptReaders, false));
    else perRead.push(readAll(unmappingReaders, true));
  }
  keptPages = filePagesMb();
  for (const reader of keptReaders) reader.close();
  readAll(unmappingReaders, true);
  perReadPages = filePagesMb();
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1].toFixed(2);
  const entries = keptReaders.reduce((n, r) => n + r.entryCount, 0);
  const magic = fs.statfsSync(dir).type;
  const fsName = magic === 0x01021994 ? 'tmpfs' : magic === 0xef53 ? 'ext4' : magic === 0x58465342 ? 'xfs' : `file system 0x${magic.toString(16)}`;
  console.log(`${workers} x ${series} in ${dir} (${fsName}): ${names.length} files, ${entries} entries, ${(usedBytes / 1048576).toFixed(1)} MB used`);
  console.log(`  mappings kept:           read of all files ${median(kept)} ms (fastest ${Math.min(...kept).toFixed(2)}), file pages mapped after it ${keptPages} MB`);
  console.log(`  map, copy, unmap a file: read of all files ${median(perRead)} ms (fastest ${Math.min(...perRead).toFixed(2)}), file pages mapped after it ${perReadPages} MB`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
