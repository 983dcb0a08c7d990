// Lookup tables keyed by bytes, so a collector finds what it made for a key (or a string)
// straight from the read buffer, and makes a JS string only for text it has not seen:
// the 8 files of 8 workers hold each key 8 times, and each label value many times.
// Open addressing over (hash, slot) in typed arrays, at most half full; a hash match is
// confirmed by comparing the bytes.
import { bytesEqualString, copyBytes, hashBytes, hashString, sameBytes } from '../format/key-bytes.js';
import { readerAddon, type MmapAddon } from '../format/mmap.js';
import type { WalkedValues } from '../format/reader.js';

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/**
 * Buffers up to this size have their word view kept between lookups (the reader's windows
 * are 1 MiB; a one-off larger buffer is not held alive by the table).
 */
const KEPT_VIEW_BYTES = 16 * 1024 * 1024;

/** Bytes of one arena chunk: keys are copied into chunks, so the arena grows without copying what it holds. */
const CHUNK_BYTES = 1024 * 1024;
/** Per slot in `slots`: chunk, start in it, length, slot of the key that followed it last time (-1: none). */
const CHUNK = 0;
const START = 1;
const LENGTH = 2;
const NEXT = 3;

/** Values keyed by byte strings; the bytes are copied into an arena outside the JS heap. */
export class ByteKeyTable<T> {
  /**
   * Per cell, its hash and the slot + 1 of its value (0: a free cell), side by side: a
   * key not expected next (a worker whose series come in another order) costs one cache
   * miss in the table, not two.
   */
  private cells = new Int32Array(2 * 1024);
  private values: T[] = [];
  private slots = new Int32Array(4 * 1024);
  private chunks: Uint8Array[] = [];
  private chunkWords: Int32Array[] = [];
  /** Bytes used in the last chunk. */
  private chunkUsed = CHUNK_BYTES;
  /** The slot of the last key looked up or added, or -1. */
  private lastSlot = -1;

  get size(): number {
    return this.values.length;
  }

  /**
   * The value for bytes [start, end) of `buf`, or undefined. The files of a directory's
   * workers list the same keys in the same order, so the key that followed the previous
   * one last time is tried first: one comparison, no hash.
   */
  get(buf: Uint8Array, start: number, end: number): T | undefined {
    const guess = this.lastSlot >= 0 ? this.slots[4 * this.lastSlot + NEXT] : -1;
    if (guess >= 0 && this.holds(guess, buf, start, end)) {
      this.lastSlot = guess;
      return this.values[guess];
    }
    return this.getHashed(buf, start, end, hashBytes(buf, start, end));
  }

  /** The hash of the bytes `get` looked up last: `add` right after a miss need not hash them again. */
  private missedHash = 0;

  /** Adds `value` for bytes [start, end) of `buf`, which are not in the table yet (`hashed`: `get` just missed them). */
  add(buf: Uint8Array, start: number, end: number, value: T, hashed = false): void {
    const length = end - start;
    // Each key starts 4-aligned in its chunk, so comparisons can go a word at a time.
    let at = (this.chunkUsed + 3) & ~3;
    if (at + length > CHUNK_BYTES || this.chunks.length === 0) {
      const chunk = new Uint8Array(Math.max(CHUNK_BYTES, (length + 3) & ~3));
      this.chunks.push(chunk);
      this.chunkWords.push(new Int32Array(chunk.buffer));
      at = 0;
    }
    copyBytes(buf, start, end, this.chunks[this.chunks.length - 1], this.chunkWords[this.chunkWords.length - 1], at);
    this.chunkUsed = at + length;
    const slot = this.values.length;
    this.values.push(value);
    if (4 * slot + 4 > this.slots.length) {
      const grown = new Int32Array(this.slots.length * 2);
      grown.set(this.slots);
      this.slots = grown;
    }
    this.slots[4 * slot + CHUNK] = this.chunks.length - 1;
    this.slots[4 * slot + START] = at;
    this.slots[4 * slot + LENGTH] = length;
    this.slots[4 * slot + NEXT] = -1;
    if (this.values.length * 4 > this.cells.length) this.rehash(this.cells.length);
    this.place(hashed ? this.missedHash : hashBytes(buf, start, end), slot + 1);
    this.follows(slot);
  }

  /**
   * Walks the entries at `buf[from..end)` (file bytes from offset `base`; the file's used
   * size `used`) and finds their keys in this table in one call to the addon: per entry,
   * `out[5i..5i+4]` = its key's start in `buf`, its length, its slot here or -1, and for a
   * key not here its hash (give it to `getHashed`) and where `fields` holds its fields when
   * it is in the plain shape (the label count, then PlainKeyFields' `at` pairs), else -1.
   * Returns the number of entries, which follow each other from `from`: it stops before an
   * entry not whole in [from, end) or not well formed (the caller's JavaScript walk goes on
   * from there), or when `out` or `fields` is full. -1 when the addon cannot (none, an old
   * binary, or the fallback storage forced). A slot found is taken with `found(slot)`; the
   * slots stay valid while keys are added (not after `retain`). With `values` (see
   * format/reader.ts WalkedValues) it also records the entries' value offsets, and values.
   */
  walk(buf: Uint8Array, from: number, end: number, base: number, used: number, out: Int32Array, fields: Int32Array, values?: WalkedValues): number {
    const walkKeys = keyWalker();
    if (walkKeys === null) return -1;
    if (values === undefined) return walkKeys(buf, from, end, base, used, this.cells, this.slots, this.chunks, this.lastSlot, out, fields);
    return walkKeys(buf, from, end, base, used, this.cells, this.slots, this.chunks, this.lastSlot, out, fields, values.valueIndex, values.first, values.values, values.timestamps);
  }

  /**
   * `get` of a key whose hash is known (`get`'s own, or the one `walk` gave): no guess (the
   * addon tried it), no hashing; a key added since that walk (one listed twice in a window)
   * is still found.
   */
  getHashed(buf: Uint8Array, start: number, end: number, hash: number): T | undefined {
    this.missedHash = hash;
    const mask = (this.cells.length >>> 1) - 1;
    for (let cell = hash & mask; ; cell = (cell + 1) & mask) {
      const slot = this.cells[2 * cell + 1] - 1;
      if (slot < 0) return undefined;
      if (this.cells[2 * cell] === hash && this.holds(slot, buf, start, end)) {
        this.follows(slot);
        return this.values[slot];
      }
    }
  }

  /** The value in `slot` (found by `walk`), as `get` would have found it: it becomes the last key looked up. */
  found(slot: number): T {
    this.follows(slot);
    return this.values[slot];
  }

  /** The value in each slot (read only: a slot's value is `found(slot)` when it counts as looked up). */
  get bySlot(): readonly T[] {
    return this.values;
  }

  /** The slot of the last key looked up (found, by `get`, `getHashed` or `found`) or added, or -1. */
  get last(): number {
    return this.lastSlot;
  }

  /**
   * Keeps only the values `keep` accepts (the arena made anew: memory follows what is
   * kept); returns each old slot's new slot, -1 for a value not kept.
   */
  retain(keep: (value: T) => boolean): Int32Array {
    const { values, slots, chunks } = this;
    this.values = [];
    this.slots = new Int32Array(4 * 1024);
    this.chunks = [];
    this.chunkWords = [];
    this.chunkUsed = CHUNK_BYTES;
    this.cells = new Int32Array(2 * 1024);
    const renumbered = new Int32Array(values.length).fill(-1);
    for (let slot = 0; slot < values.length; slot++) {
      if (!keep(values[slot])) continue;
      renumbered[slot] = this.values.length;
      const start = slots[4 * slot + START];
      this.add(chunks[slots[4 * slot + CHUNK]], start, start + slots[4 * slot + LENGTH], values[slot]);
    }
    this.lastSlot = -1;
    return renumbered;
  }

  /** The buffer of the last lookup, its byte offset and an Int32Array over its ArrayBuffer (null: not 4-aligned, or not kept). */
  private viewOf: Uint8Array | null = null;
  private viewOffset = 0;
  private view: Int32Array | null = null;

  /**
   * Whether `slot` holds bytes [start, end) of `buf`. A key in a file window (4-aligned)
   * is compared a word at a time, its last 1-3 bytes in one masked word (a chunk holds
   * whole words; an entry's padding and value follow its key in the window), with the
   * window's word view kept from the last call: that lookup is most of a known file's read.
   */
  private holds(slot: number, buf: Uint8Array, start: number, end: number): boolean {
    const length = end - start;
    if (this.slots[4 * slot + LENGTH] !== length) return false;
    const chunk = this.slots[4 * slot + CHUNK];
    const at = this.slots[4 * slot + START];
    if (buf !== this.viewOf) this.keepView(buf);
    const words = this.view;
    const from = this.viewOffset + start;
    if (words === null || (from & 3) !== 0) return sameBytes(buf, start, end, this.chunks[chunk], this.chunkWords[chunk], at);
    const known = this.chunkWords[chunk];
    const a = from >>> 2;
    const b = at >>> 2;
    const n = length >>> 2;
    for (let w = 0; w < n; w++) if (words[a + w] !== known[b + w]) return false;
    const tail = length & 3;
    if (tail === 0) return true;
    // The word holding the tail lies inside both: the chunk's (a whole word is reserved per key) and,
    // for a key not at the very end of `buf`, the buffer's; otherwise compare the bytes.
    if (from + length + 4 - tail > words.length * 4) return sameBytes(buf, start + 4 * n, end, this.chunks[chunk], known, at + 4 * n);
    return ((words[a + n] ^ known[b + n]) & ((1 << (tail << 3)) - 1)) === 0;
  }

  private keepView(buf: Uint8Array): void {
    this.viewOf = buf;
    this.viewOffset = buf.byteOffset;
    const memory = buf.buffer;
    this.view = LITTLE_ENDIAN && memory.byteLength <= KEPT_VIEW_BYTES && (buf.byteOffset & 3) === 0 ? new Int32Array(memory, 0, memory.byteLength >>> 2) : null;
    if (this.view === null) this.viewOf = null; // not kept: a large one-off buffer is not held by the table
  }

  private follows(slot: number): void {
    if (this.lastSlot >= 0) this.slots[4 * this.lastSlot + NEXT] = slot;
    this.lastSlot = slot;
  }

  private place(hash: number, slotPlusOne: number): void {
    const mask = (this.cells.length >>> 1) - 1;
    let cell = hash & mask;
    while (this.cells[2 * cell + 1] !== 0) cell = (cell + 1) & mask;
    this.cells[2 * cell] = hash;
    this.cells[2 * cell + 1] = slotPlusOne;
  }

  /** Grows the table to `size` cells. */
  private rehash(size: number): void {
    const { cells } = this;
    this.cells = new Int32Array(2 * size);
    for (let i = 0; i < cells.length; i += 2) if (cells[i + 1] !== 0) this.place(cells[i], cells[i + 1]);
  }
}

type WalkKeys = NonNullable<MmapAddon['walkKeys']>;
let walker: WalkKeys | null | undefined;

/** The addon's walkKeys, or null (no addon, a binary from before it records values, or PROM_MULTIPROC_STORAGE=fallback). */
function keyWalker(): WalkKeys | null {
  if (walker === undefined) {
    const addon = readerAddon();
    walker = addon?.walkKeys && addon.walkKeysRecordsValues === true ? addon.walkKeys : null;
  }
  return walker;
}

/**
 * One string per distinct text, each with a number (its id) that stays the same while the
 * string is kept: label sets are told apart by their strings' ids. Looked up by bytes
 * (plain ASCII text: a byte is a code unit) or by string.
 */
export class InternedStrings {
  private hashes = new Int32Array(1024);
  /** Id of each cell's string; 0 for a free cell. */
  private ids = new Int32Array(1024);
  private strings: string[] = new Array(1024);
  private count = 0;
  private nextId = 1;
  /** The string of the last `idOfBytes` / `idOf` call. */
  last = '';

  /** The id of the text in bytes [start, end) of `buf` (plain ASCII), making its string if new; the string is `last`. */
  idOfBytes(buf: Buffer, start: number, end: number): number {
    const hash = hashBytes(buf, start, end);
    const mask = this.ids.length - 1;
    let cell = hash & mask;
    for (; this.ids[cell] !== 0; cell = (cell + 1) & mask) {
      if (this.hashes[cell] === hash && bytesEqualString(buf, start, end, this.strings[cell])) {
        this.last = this.strings[cell];
        return this.ids[cell];
      }
    }
    return this.insert(cell, hash, latin1(buf, start, end), this.nextId++);
  }

  /** The id of `s`, interning it if new; the interned string is `last`. */
  idOf(s: string): number {
    const hash = hashString(s);
    const mask = this.ids.length - 1;
    let cell = hash & mask;
    for (; this.ids[cell] !== 0; cell = (cell + 1) & mask) {
      if (this.hashes[cell] === hash && this.strings[cell] === s) {
        this.last = this.strings[cell];
        return this.ids[cell];
      }
    }
    return this.insert(cell, hash, s, this.nextId++);
  }

  /** Keeps only the strings in `keep`, each with the id it had (ids are never reused). */
  retain(keep: ReadonlySet<string>): void {
    const { hashes, ids, strings } = this;
    let size = 1024;
    while (keep.size * 2 > size) size *= 2;
    this.hashes = new Int32Array(size);
    this.ids = new Int32Array(size);
    this.strings = new Array(size);
    this.count = 0;
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] !== 0 && keep.has(strings[i])) this.insert(this.freeCell(hashes[i]), hashes[i], strings[i], ids[i]);
    }
  }

  private insert(cell: number, hash: number, s: string, id: number): number {
    this.hashes[cell] = hash;
    this.ids[cell] = id;
    this.strings[cell] = s;
    this.last = s;
    if (++this.count * 2 > this.ids.length) this.rehash(this.ids.length * 2);
    return id;
  }

  private freeCell(hash: number): number {
    const mask = this.ids.length - 1;
    let cell = hash & mask;
    while (this.ids[cell] !== 0) cell = (cell + 1) & mask;
    return cell;
  }

  private rehash(size: number): void {
    const { hashes, ids, strings } = this;
    this.hashes = new Int32Array(size);
    this.ids = new Int32Array(size);
    this.strings = new Array(size);
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] === 0) continue;
      const cell = this.freeCell(hashes[i]);
      this.hashes[cell] = hashes[i];
      this.ids[cell] = ids[i];
      this.strings[cell] = strings[i];
    }
  }
}

/**
 * Text of plain ASCII bytes: a fresh flat string, never a slice of a larger one that it
 * would keep alive. Texts under 13 characters are built in JS (flat at that length, and
 * cheaper than a native call); longer ones would be concatenations (ropes), so not those.
 */
function latin1(buf: Buffer, start: number, end: number): string {
  if (end - start > 12) return buf.toString('latin1', start, end);
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(buf[i]);
  return s;
}
