// Which entry of a file holds a key, without keeping the key in the heap: the key bytes
// are in the file already. An open-addressing table of (hash, entry offset) in two typed
// arrays, filled up to 3/4 (8 bytes a cell: 10.7 to 21 bytes an entry); a hash match is
// confirmed against the key bytes in the file. Only series creation looks keys up, and it
// compares bytes with bytes: no string is made.
import { hashBytes } from './key-bytes.js';

export class KeyOffsets {
  /** Entry offsets (of the entry's 4-byte length); 0 is a free cell (no entry starts there). */
  private offsets = new Int32Array(1024);
  private hashes = new Int32Array(1024);
  private count = 0;

  /** The offset of the entry in `file` whose key is `key[0, length)`, or -1. */
  get(file: Buffer, key: Buffer, length: number): number {
    const cell = this.find(file, key, 0, length, hashBytes(key, 0, length));
    return cell >= 0 ? this.offsets[cell] : -1;
  }

  /** Records the entry at `offset` of `file` (its key read there); a later entry of the same key wins (as in Python). */
  set(file: Buffer, offset: number): void {
    const length = file.readInt32LE(offset);
    const hash = hashBytes(file, offset + 4, offset + 4 + length);
    const cell = this.find(file, file, offset + 4, length, hash);
    if (cell >= 0) {
      this.offsets[cell] = offset;
      return;
    }
    if ((this.count + 1) * 4 > this.offsets.length * 3) this.rehash(this.offsets.length * 2);
    this.insert(hash, offset);
    this.count++;
  }

  /** The cell of the entry whose key is `key[from, from + length)`, or -1. */
  private find(file: Buffer, key: Buffer, from: number, length: number, hash: number): number {
    const mask = this.offsets.length - 1;
    for (let cell = hash & mask; ; cell = (cell + 1) & mask) {
      const at = this.offsets[cell];
      if (at === 0) return -1;
      if (this.hashes[cell] === hash && file.readInt32LE(at) === length && key.compare(file, at + 4, at + 4 + length, from, from + length) === 0) return cell;
    }
  }

  private insert(hash: number, offset: number): void {
    const mask = this.offsets.length - 1;
    let cell = hash & mask;
    while (this.offsets[cell] !== 0) cell = (cell + 1) & mask;
    this.offsets[cell] = offset;
    this.hashes[cell] = hash;
  }

  private rehash(size: number): void {
    const { offsets, hashes } = this;
    this.offsets = new Int32Array(size);
    this.hashes = new Int32Array(size);
    for (let i = 0; i < offsets.length; i++) if (offsets[i] !== 0) this.insert(hashes[i], offsets[i]);
  }
}
