// Lookup tables keyed by bytes, so a collector finds what it made for a key (or a string)
// straight from the read buffer, and makes a JS string only for text it has not seen:
// the 8 files of 8 workers hold each key 8 times, and each label value many times.
// Open addressing over (hash, slot) in typed arrays, at most half full; a hash match is
// confirmed by comparing the bytes.
import { bytesEqualString, hashBytes, hashString, sameBytes } from '../format/key-bytes.js';

/** Values keyed by byte strings; the bytes are copied into an arena outside the JS heap. */
export class ByteKeyTable<T> {
  private hashes = new Int32Array(1024);
  /** Slot + 1 of each cell's value; 0 for a free cell. */
  private cells = new Int32Array(1024);
  private values: T[] = [];
  private starts: number[] = [];
  private lengths: number[] = [];
  private arena = new Uint8Array(64 * 1024);
  private arenaWords: Int32Array = new Int32Array(this.arena.buffer);
  private arenaUsed = 0;
  /** For each slot, the slot of the key looked up right after it last time, or -1. */
  private next: number[] = [];
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
    const length = end - start;
    const guess = this.lastSlot >= 0 ? this.next[this.lastSlot] : -1;
    if (guess >= 0 && this.lengths[guess] === length && sameBytes(buf, start, end, this.arena, this.arenaWords, this.starts[guess])) {
      this.lastSlot = guess;
      return this.values[guess];
    }
    const hash = hashBytes(buf, start, end);
    const mask = this.cells.length - 1;
    for (let cell = hash & mask; ; cell = (cell + 1) & mask) {
      const slot = this.cells[cell] - 1;
      if (slot < 0) return undefined;
      if (this.hashes[cell] === hash && this.lengths[slot] === length && sameBytes(buf, start, end, this.arena, this.arenaWords, this.starts[slot])) {
        this.follows(slot);
        return this.values[slot];
      }
    }
  }

  /** Adds `value` for bytes [start, end) of `buf`, which are not in the table yet. */
  add(buf: Uint8Array, start: number, end: number, value: T): void {
    const length = end - start;
    // Each key starts 4-aligned in the arena, so comparisons can go a word at a time.
    const at = (this.arenaUsed + 3) & ~3;
    if (at + length > this.arena.length) {
      let size = this.arena.length * 2;
      while (size < at + length) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.arena.subarray(0, this.arenaUsed));
      this.arena = grown;
      this.arenaWords = new Int32Array(grown.buffer);
    }
    this.arena.set(buf.subarray(start, end), at);
    this.starts.push(at);
    this.lengths.push(length);
    this.arenaUsed = at + length;
    this.values.push(value);
    this.next.push(-1);
    const slot = this.values.length - 1;
    if (this.values.length * 2 > this.cells.length) this.rehash(this.cells.length * 2);
    this.place(hashBytes(buf, start, end), slot + 1);
    this.follows(slot);
  }

  private follows(slot: number): void {
    if (this.lastSlot >= 0) this.next[this.lastSlot] = slot;
    this.lastSlot = slot;
  }

  /** Keeps only the values `keep` accepts (arena compacted: memory follows what is kept). */
  retain(keep: (value: T) => boolean): void {
    const { values, starts, lengths, arena } = this;
    this.values = [];
    this.starts = [];
    this.lengths = [];
    this.next = [];
    this.lastSlot = -1;
    this.arena = new Uint8Array(Math.max(64 * 1024, (this.arenaUsed + 3) & ~3));
    this.arenaWords = new Int32Array(this.arena.buffer);
    this.arenaUsed = 0;
    let size = 1024;
    const kept: number[] = [];
    for (let slot = 0; slot < values.length; slot++) if (keep(values[slot])) kept.push(slot);
    while (kept.length * 2 > size) size *= 2;
    this.hashes = new Int32Array(size);
    this.cells = new Int32Array(size);
    for (const slot of kept) this.add(arena, starts[slot], starts[slot] + lengths[slot], values[slot]);
    this.lastSlot = -1;
  }

  private place(hash: number, slotPlusOne: number): void {
    const mask = this.cells.length - 1;
    let cell = hash & mask;
    while (this.cells[cell] !== 0) cell = (cell + 1) & mask;
    this.cells[cell] = slotPlusOne;
    this.hashes[cell] = hash;
  }

  private rehash(size: number): void {
    const { hashes, cells } = this;
    this.hashes = new Int32Array(size);
    this.cells = new Int32Array(size);
    for (let i = 0; i < cells.length; i++) if (cells[i] !== 0) this.place(hashes[i], cells[i]);
  }
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
