// Which entry of a file holds a key, without keeping the key in the heap: the key text
// is in the file already. An open-addressing table of (hash, entry offset) in two typed
// arrays, filled up to 3/4 (8 bytes a cell: 10.7 to 21 bytes an entry); a hash match is confirmed against the key bytes in
// the file. Only series creation looks keys up, so the comparison's string is garbage
// once, never per update.

/** FNV-1a over the UTF-16 code units of `key`. */
function hashKey(key: string): number {
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619);
  return h;
}

export class KeyOffsets {
  /** Entry offsets (of the entry's 4-byte length); 0 is a free cell (no entry starts there). */
  private offsets = new Int32Array(1024);
  private hashes = new Int32Array(1024);
  private count = 0;

  /** The entry offset of `key` in `buf`, or -1. */
  get(buf: Buffer, key: string): number {
    const cell = this.find(buf, key, hashKey(key));
    return cell >= 0 ? this.offsets[cell] : -1;
  }

  /** Records that `key` is at entry `offset`; a later entry of the same key wins (as in Python). */
  set(buf: Buffer, key: string, offset: number): void {
    const hash = hashKey(key);
    const cell = this.find(buf, key, hash);
    if (cell >= 0) {
      this.offsets[cell] = offset;
      return;
    }
    if ((this.count + 1) * 4 > this.offsets.length * 3) this.rehash(this.offsets.length * 2);
    this.insert(hash, offset);
    this.count++;
  }

  /** The cell holding `key`, or -1. */
  private find(buf: Buffer, key: string, hash: number): number {
    const mask = this.offsets.length - 1;
    for (let cell = hash & mask; ; cell = (cell + 1) & mask) {
      const at = this.offsets[cell];
      if (at === 0) return -1;
      if (this.hashes[cell] === hash && keyAt(buf, at) === key) return cell;
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

/** The key text of the entry at `offset` (written by us or checked by scanEntries: valid UTF-8). */
function keyAt(buf: Buffer, offset: number): string {
  const length = buf.readInt32LE(offset);
  return buf.toString('utf8', offset + 4, offset + 4 + length);
}
