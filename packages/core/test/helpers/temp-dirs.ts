// Temp dirs for tests, removed when the test file that made them ends (remove-temp-dirs.ts).
// A module of its own, with no import of the package: every test file's set-up loads it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const madeTempDirs = new Set<string>();

/** A new empty dir in `parent` (default: the OS's temp dir). */
export function tempDir(prefix = 'pmp-test-', parent = os.tmpdir()): string {
  const dir = fs.mkdtempSync(path.join(parent, prefix));
  madeTempDirs.add(dir);
  return dir;
}

/** Removes every dir tempDir() made in this test file (whether its tests passed or failed). */
export function removeTempDirs(): void {
  for (const dir of madeTempDirs) fs.rmSync(dir, { recursive: true, force: true });
  madeTempDirs.clear();
}
