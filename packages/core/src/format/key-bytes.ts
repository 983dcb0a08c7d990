// Keys read as bytes, without making a string of them: a hash over the bytes (to look a
// key up in a table of the keys seen before), and the fields of a key in its common shape
// found in place. A directory of W workers holds every key W times, and a collector needs
// the text of each distinct key's fields once; everything else is bytes.

/**
 * A 32-bit hash of `length` units, `unit(i)` each (bytes, or UTF-16 code units: the same
 * text gives the same hash either way when every unit is below 0x100). Four units at a
 * time, multiplied in as one word (murmur-style), so a 150-byte key costs ~40 steps.
 */
/**
 * 0xe6546b64 as an int32: the same sum modulo 2^32, but one that stays a small integer
 * more often, so the loop allocates no number for it while it runs before V8 compiles it.
 */
const E6546B64 = 0xe6546b64 | 0;

export function hashBytes(buf: Uint8Array, start: number, end: number): number {
  let h = 0x9747b28c ^ (end - start);
  let i = start;
  const words = wordsOf(buf, start);
  if (words !== null) {
    // The same words, read four bytes at a time.
    for (let at = (buf.byteOffset + start) >>> 2; i + 4 <= end; i += 4, at++) {
      let w = words[at];
      w = Math.imul(w, 0xcc9e2d51);
      w = (w << 15) | (w >>> 17);
      h ^= Math.imul(w, 0x1b873593);
      h = (h << 13) | (h >>> 19);
      h = (Math.imul(h, 5) + E6546B64) | 0;
    }
  }
  for (; i + 4 <= end; i += 4) {
    let w = buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24);
    w = Math.imul(w, 0xcc9e2d51);
    w = (w << 15) | (w >>> 17);
    h ^= Math.imul(w, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + E6546B64) | 0;
  }
  let w = 0;
  for (let shift = 0; i < end; i++, shift += 8) w |= buf[i] << shift;
  return finish(h, w);
}

/** `hashBytes` of a string's UTF-16 code units (equal to it for text whose units are all below 0x100). */
export function hashString(s: string): number {
  let h = 0x9747b28c ^ s.length;
  let i = 0;
  const end = s.length;
  for (; i + 4 <= end; i += 4) {
    let w = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 8) | (s.charCodeAt(i + 2) << 16) | (s.charCodeAt(i + 3) << 24);
    w = Math.imul(w, 0xcc9e2d51);
    w = (w << 15) | (w >>> 17);
    h ^= Math.imul(w, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + E6546B64) | 0;
  }
  let w = 0;
  // Units above 0xff overlap their neighbours here; that only makes collisions, which the comparison sorts out.
  for (let shift = 0; i < end; i++, shift += 8) w |= s.charCodeAt(i) << shift;
  return finish(h, w);
}

function finish(h: number, tail: number): number {
  if (tail !== 0) {
    tail = Math.imul(tail, 0xcc9e2d51);
    tail = (tail << 15) | (tail >>> 17);
    h ^= Math.imul(tail, 0x1b873593);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
let wordsBuffer: ArrayBufferLike | null = null;
let wordsView: Int32Array = new Int32Array(0);

/**
 * An Int32Array over the memory of `buf` when byte `start` of it is 4-aligned (keys in a
 * file image are: entries are 8-aligned, a key follows its 4-byte length), on a
 * little-endian machine (a word then reads as four bytes do); otherwise null.
 */
export function wordsOf(buf: Uint8Array, start: number): Int32Array | null {
  if (!LITTLE_ENDIAN || ((buf.byteOffset + start) & 3) !== 0) return null;
  if (buf.buffer !== wordsBuffer) {
    wordsBuffer = buf.buffer;
    wordsView = new Int32Array(buf.buffer, 0, buf.buffer.byteLength >>> 2);
  }
  return wordsView;
}

/**
 * True when bytes [start, end) of `buf` equal bytes [otherStart, ...) of `other`.
 * `otherWords`: an Int32Array over all of `other` (which starts its ArrayBuffer) to
 * compare a word at a time where both sides are 4-aligned.
 */
export function sameBytes(buf: Uint8Array, start: number, end: number, other: Uint8Array, otherWords: Int32Array, otherStart: number): boolean {
  let i = start;
  let j = otherStart;
  const words = (otherStart & 3) === 0 ? wordsOf(buf, start) : null;
  if (words !== null) {
    for (let at = (buf.byteOffset + start) >>> 2, bt = otherStart >>> 2; i + 4 <= end; i += 4, j += 4, at++, bt++) {
      if (words[at] !== otherWords[bt]) return false;
    }
  }
  for (; i < end; i++, j++) if (buf[i] !== other[j]) return false;
  return true;
}

/** Copies bytes [start, end) of `buf` to `to` at `at` (4-aligned; `toWords` over all of `to`), a word at a time when `start` is aligned too: no view object per copy. */
export function copyBytes(buf: Uint8Array, start: number, end: number, to: Uint8Array, toWords: Int32Array, at: number): void {
  let i = start;
  let j = at;
  const words = (at & 3) === 0 ? wordsOf(buf, start) : null;
  if (words !== null) {
    for (let w = (buf.byteOffset + start) >>> 2, t = at >>> 2; i + 4 <= end; i += 4, j += 4, w++, t++) toWords[t] = words[w];
  }
  for (; i < end; i++, j++) to[j] = buf[i];
}

/** True when bytes [start, end) of `buf` are the code units of `s`. */
export function bytesEqualString(buf: Uint8Array, start: number, end: number, s: string): boolean {
  if (s.length !== end - start) return false;
  for (let i = 0; i < s.length; i++) if (buf[start + i] !== s.charCodeAt(i)) return false;
  return true;
}

/**
 * Where the fields of a key in its common shape are: `["metric", "sample", {"a": "1",
 * "b": "2"}, "help"]`, exactly as Python's json.dumps(sort_keys=True) and our writer
 * write it, every string plain printable ASCII (no escape, no byte >= 0x80), label names
 * strictly ascending. Such a key decodes to the bytes between the quotes, label pairs
 * already in key order. `at` holds [start, end) byte offsets: metric, sample, help, then
 * each label's name and value; `labels` is the number of labels.
 */
export class PlainKeyFields {
  at = new Int32Array(6 + 4 * 16);
  labels = 0;

  /**
   * Finds the fields of the key in [start, end) of `buf`. Returns false for any key not
   * in the plain shape (escapes, other spacing, non-ASCII, unsorted or repeated labels):
   * the caller decodes that one with JSON.parse, which is the reference.
   */
  scan(buf: Uint8Array, start: number, end: number): boolean {
    // Shortest plain key: ["", "", {}, ""] (16 bytes).
    if (end - start < 16 || buf[start] !== 0x5b /* [ */ || buf[end - 1] !== 0x5d /* ] */) return false;
    let pos = start + 1;
    pos = this.string(buf, pos, end, 0);
    if (pos < 0 || !separator(buf, pos, end)) return false;
    pos = this.string(buf, pos + 2, end, 2);
    if (pos < 0 || !separator(buf, pos, end)) return false;
    pos += 2;
    if (buf[pos] !== 0x7b /* { */) return false;
    pos++;
    let n = 0;
    if (buf[pos] === 0x7d /* } */) pos++;
    else {
      for (;;) {
        const slot = 6 + 4 * n;
        if (slot + 4 > this.at.length) {
          const grown = new Int32Array(this.at.length * 2);
          grown.set(this.at);
          this.at = grown;
        }
        pos = this.string(buf, pos, end, slot);
        if (pos < 0 || pos + 2 > end || buf[pos] !== 0x3a /* : */ || buf[pos + 1] !== 0x20) return false;
        if (n > 0 && !ascending(buf, this.at[slot - 4], this.at[slot - 3], this.at[slot], this.at[slot + 1])) return false;
        pos = this.string(buf, pos + 2, end, slot + 2);
        if (pos < 0) return false;
        n++;
        if (buf[pos] === 0x7d) {
          pos++;
          break;
        }
        if (!separator(buf, pos, end)) return false;
        pos += 2;
      }
    }
    if (!separator(buf, pos, end)) return false;
    pos = this.string(buf, pos + 2, end, 4);
    if (pos !== end - 1) return false;
    this.labels = n;
    return true;
  }

  /** A plain string literal at `pos`: records its contents at `at[slot]`, returns the offset after its closing quote, or -1. */
  private string(buf: Uint8Array, pos: number, end: number, slot: number): number {
    if (pos >= end || buf[pos] !== 0x22 /* " */) return -1;
    const from = ++pos;
    for (; pos < end; pos++) {
      const b = buf[pos];
      if (b === 0x22) {
        this.at[slot] = from;
        this.at[slot + 1] = pos;
        return pos + 1;
      }
      // A backslash (escape), a control byte or a byte of a multi-byte character: not plain.
      if (b === 0x5c || b < 0x20 || b > 0x7e) return -1;
    }
    return -1;
  }
}

/** `, ` at `pos`. */
function separator(buf: Uint8Array, pos: number, end: number): boolean {
  return pos + 2 <= end && buf[pos] === 0x2c && buf[pos + 1] === 0x20;
}

/** Whether bytes [a, aEnd) sort strictly before [b, bEnd) (plain ASCII: bytes are code points). */
function ascending(buf: Uint8Array, a: number, aEnd: number, b: number, bEnd: number): boolean {
  const n = Math.min(aEnd - a, bEnd - b);
  for (let i = 0; i < n; i++) {
    const d = buf[a + i] - buf[b + i];
    if (d !== 0) return d < 0;
  }
  return aEnd - a < bEnd - b;
}
