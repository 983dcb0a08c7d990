// The native addon (native/mmap.c): loaded from the prebuilt binary without a compiler,
// maps a file shared, and releases a mapping when asked (growth) instead of when a GC
// pass finds its Buffer.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MappedFile } from '../src/format/mapped-file.js';
import { COPY_FAULT, COPY_OK, COPY_OUT_OF_RANGE, nativeDir, loadMmap } from '../src/format/mmap.js';
import { encodeKey } from '../src/format/key.js';
import { tempDir } from './helpers/fixtures.js';

const require = createRequire(import.meta.url);
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** How many mappings of `file` this process holds (/proc/self/maps lists each one). */
const mappingsOf = (file: string) => fs.readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.endsWith(` ${file}`)).length;

function zeroFile(size: number): { file: string; fd: number } {
  const dir = tempDir();
  dirs.push(dir);
  const file = path.join(dir, 'x.db');
  fs.writeFileSync(file, Buffer.alloc(size));
  return { file, fd: fs.openSync(file, 'r+') };
}

describe('mmap addon', () => {
  it('ships a prebuilt linux-x64 glibc binary that loads by itself, with no build step', () => {
    const prebuilt = path.join(nativeDir(), 'prebuilds', 'linux-x64', 'prom-multiproc-mmap.glibc.node');
    expect(fs.existsSync(prebuilt)).toBe(true);
    // Loads with any glibc since 2.2.5: no symbol of a later version (pthread_once is GLIBC_2.34).
    expect(new Set(fs.readFileSync(prebuilt).toString('latin1').match(/GLIBC_[0-9.]+/g))).toEqual(new Set(['GLIBC_2.2.5']));
    const addon = require(prebuilt) as Record<string, unknown>;
    expect(Object.keys(addon).sort()).toEqual(['copyValues', 'map', 'mapRead', 'unmap', 'unmapRead', 'walkKeys', 'walkKeysRecordsValues']);
    // node-gyp-build picks it here unless a local source build (native/build/Release) exists.
    const chosen = (require('node-gyp-build') as { resolve(dir: string): string }).resolve(nativeDir());
    expect(chosen).toMatch(/(prebuilds\/linux-x64\/prom-multiproc-mmap\.glibc\.node|build\/Release\/prom_multiproc_mmap\.node)$/);
    expect(loadMmap()).toBeDefined();
  });

  it('maps a file shared: a store is in the file, a write to the file is in the mapping', () => {
    const mmap = loadMmap()!;
    const { file, fd } = zeroFile(8192);
    const mapping = mmap.map(fd, 8192);
    const values = new Float64Array(mapping);
    values[3] = 42.5;
    expect(fs.readFileSync(file).readDoubleLE(24)).toBe(42.5);
    const other = Buffer.alloc(8);
    other.writeDoubleLE(-7, 0);
    fs.writeSync(fd, other, 0, 8, 4096);
    expect(values[512]).toBe(-7);
    mmap.unmap(mapping);
    fs.closeSync(fd);
  });

  it('unmap releases the mapping at once and detaches the buffer; views read as empty, a second unmap does nothing', () => {
    const mmap = loadMmap()!;
    const { file, fd } = zeroFile(4096);
    const mapping = mmap.map(fd, 4096);
    const view = new Float64Array(mapping);
    view[0] = 1;
    expect(mappingsOf(file)).toBe(1);
    mmap.unmap(mapping);
    expect(mappingsOf(file)).toBe(0);
    expect(mapping.byteLength).toBe(0);
    expect(view.length).toBe(0);
    view[0] = 2; // a store through a stale view goes nowhere instead of faulting
    expect(view[0]).toBeUndefined();
    mmap.unmap(mapping);
    expect(fs.readFileSync(file).readDoubleLE(0)).toBe(1);
    fs.closeSync(fd);
  });

  it('a growing file keeps one mapping: each growth unmaps the old one (no GC needed)', () => {
    const dir = tempDir();
    dirs.push(dir);
    const file = path.join(dir, 'counter_1.db');
    const writer = MappedFile.open(file, 'mmap');
    const holder = { values: new Float64Array(0) };
    writer.attach(holder);
    const first = writer.slotFor(encodeKey('m', 'm_total', [], 'h'));
    holder.values[first] = 1;
    for (let i = 0; writer.capacityBytes < 1 << 20; i++) writer.slotFor(encodeKey('m', 'm_total', [['id', `${i}-padding-padding`]], 'h'));
    expect(writer.capacityBytes).toBe(1 << 20); // 64 KiB doubled four times
    expect(mappingsOf(file)).toBe(1);
    holder.values[first] += 1;
    expect(fs.readFileSync(file).readDoubleLE(first * 8)).toBe(2);
    writer.close();
    expect(mappingsOf(file)).toBe(0);
  });

  it('copies values out of a read-only mapping; a copy from pages the file no longer has is reported, not a crash', () => {
    const mmap = loadMmap()!;
    const { file, fd } = zeroFile(3 * 4096);
    const image = Buffer.alloc(3 * 4096);
    image.writeDoubleLE(1.5, 8000);
    image.writeDoubleLE(2.5, 8008);
    image.writeDoubleLE(-3, 16);
    fs.writeSync(fd, image, 0, image.length, 0);
    const mapping = mmap.mapRead!(fd, image.length);
    const index = new Int32Array([1000, 2]);
    const values = new Float64Array(2);
    const timestamps = new Float64Array(2);
    expect(mmap.copyValues!(mapping, image.length, index, 2, values, timestamps)).toBe(COPY_OK);
    expect([...values, ...timestamps]).toEqual([1.5, -3, 2.5, 0]);
    expect(mmap.copyValues!(mapping, 8008, index, 2, values, timestamps)).toBe(COPY_OUT_OF_RANGE); // past `used`
    fs.ftruncateSync(fd, 4096); // the value at 8000 is now on a page past the end: SIGBUS, caught
    expect(mmap.copyValues!(mapping, image.length, index, 2, values, timestamps)).toBe(COPY_FAULT);
    expect(mmap.copyValues!(mapping, image.length, new Int32Array([2]), 1, values, timestamps)).toBe(COPY_OK);
    expect(mappingsOf(file)).toBe(1);
    mmap.unmapRead!(mapping);
    mmap.unmapRead!(mapping);
    expect(mappingsOf(file)).toBe(0);
    expect(mmap.copyValues!(mapping, image.length, index, 1, values, timestamps)).toBe(COPY_OUT_OF_RANGE);
    expect(() => mmap.copyValues!(mapping, image.length, new Int32Array(1), 2, values, timestamps)).toThrow(/at least `count` elements/);
    expect(() => mmap.unmapRead!({} as never)).toThrow(/expected a handle from mapRead/);
    fs.closeSync(fd);
  });

  it('a SIGBUS that is not from a copy still has its default action (the guard passes it on)', () => {
    const dir = tempDir();
    dirs.push(dir);
    // A fault from JavaScript through a writer's mapping of a file cut under it, after the
    // guard was installed by a read mapping: the process dies of SIGBUS, as without us.
    const script = `
      const fs = require('node:fs');
      const addon = require(process.argv[1]);
      const file = process.argv[2];
      fs.writeFileSync(file, Buffer.alloc(8192));
      const fd = fs.openSync(file, 'r+');
      addon.mapRead(fd, 8192);
      const view = new Float64Array(addon.map(fd, 8192));
      fs.ftruncateSync(fd, 0);
      console.log('reading');
      console.log(view[1000]);`;
    const prebuilt = require.resolve(path.join(nativeDir(), 'prebuilds', 'linux-x64', 'prom-multiproc-mmap.glibc.node'));
    const result = spawnSync(process.execPath, ['-e', script, prebuilt, path.join(dir, 'x.db')], { encoding: 'utf8', timeout: 30_000 });
    expect(result.stdout).toBe('reading\n');
    expect(result.signal).toBe('SIGBUS');
  });

  it('refuses bad arguments with errors that say what is wrong', () => {
    const mmap = loadMmap()!;
    expect(() => mmap.map(-1, 10)).toThrow(/map\(fd, length\) needs a file descriptor and a positive length/);
    expect(() => mmap.map(0, 0)).toThrow(/positive length/);
    expect(() => mmap.unmap(Buffer.alloc(8) as unknown as ArrayBuffer)).toThrow(/unmap\(buffer\) needs an ArrayBuffer/);
    const { fd } = zeroFile(4096);
    fs.closeSync(fd);
    expect(() => mmap.map(fd, 4096)).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });
});
