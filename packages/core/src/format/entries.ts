// Walks the entries of a file image, checking every length against `used` and the
// buffer before it is used (FORMAT.md §5, §6, §11). Shared by the reader and by the
// writer when it continues an existing file.
import { decodeKey, KeyFormatError, type DecodedKey } from './key.js';

export const HEADER_BYTES = 8;

/** Thrown when a file's bytes are not a well-formed metrics file; `reason` names why. */
export class CorruptFileError extends Error {
  constructor(readonly reason: string, readonly path?: string) {
    super(path ? `corrupt file ${path}: ${reason}` : `corrupt file: ${reason}`);
  }
}

export interface ParsedEntry extends DecodedKey {
  /** Offset of the entry's 4-byte length. */
  offset: number;
  keyLength: number;
  pad: number;
  /** Offset of the float64 value; the timestamp follows it. Always 8-aligned. */
  valueOffset: number;
  /** The raw key text as stored. */
  key: string;
}

/** Bytes of the space padding after a key of `keyLength` bytes: 1..8, never 0. */
export function paddingFor(keyLength: number): number {
  return 8 - ((keyLength + 4) % 8);
}

export function entrySize(keyLength: number): number {
  return 4 + keyLength + paddingFor(keyLength) + 16;
}

/** Writes an entry's head at `at` (int32 key length, UTF-8 key, space padding); returns where its value starts. */
export function writeEntryHead(buf: Buffer, at: number, key: string, keyLength: number): number {
  buf.writeInt32LE(keyLength, at);
  buf.write(key, at + 4, keyLength, 'utf8');
  const valueOffset = at + 4 + keyLength + paddingFor(keyLength);
  buf.fill(0x20, at + 4 + keyLength, valueOffset);
  return valueOffset;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads the `used` header of a file image; returns 0 for "nothing to parse"
 * (Python treats used <= 8 as empty). Throws for a header that cannot be right.
 */
export function readUsed(buf: Buffer, length: number): number {
  if (length < 4) throw new CorruptFileError(`file is ${length} bytes, shorter than its 4-byte header`);
  const used = buf.readInt32LE(0);
  if (used <= HEADER_BYTES) return 0;
  if (used > length) throw new CorruptFileError(`header says ${used} bytes are used but the file has ${length}`);
  return used;
}

/**
 * Walks the entries in [from, used) of `buf`, checking every length before it is used,
 * and calls `onEntry` with where each entry's key bytes, the entry and its value are. The
 * key bytes are not checked: `onEntry` must (a KeyFormatError it throws, for a key that
 * is malformed or not UTF-8, becomes a CorruptFileError naming the offset). Returns the
 * offset where the walk stopped (== used for a well-formed file).
 */
export function scanEntryBytes(
  buf: Buffer,
  used: number,
  from: number,
  onEntry: (keyStart: number, keyLength: number, offset: number, valueOffset: number) => void,
): number {
  if (used > buf.length) throw new CorruptFileError(`used (${used}) is beyond the ${buf.length} bytes read`);
  return walkEntries(buf, 0, from, used, used, onEntry);
}

/**
 * scanEntryBytes over a window of the file: `buf` holds file bytes [base, base + length),
 * `used` is the file's; the walk starts at file offset `from` (an entry's start). Stops before an entry that ends past the window (returns its file
 * offset, to be read again in the next window) unless the window ends at `used`, where
 * that is corruption with the same reasons as scanEntryBytes. `keyStart` is an index into
 * `buf`; `offset` and `valueOffset` are file offsets.
 */
export function scanEntryWindow(
  buf: Buffer,
  base: number,
  length: number,
  used: number,
  onEntry: (keyStart: number, keyLength: number, offset: number, valueOffset: number) => void,
  from = base,
): number {
  if (length > buf.length || base + length > used) throw new CorruptFileError(`window [${base}, ${base + length}) is beyond the bytes read or used (${used})`);
  if (from < base || from > base + length) throw new CorruptFileError(`walk start ${from} is outside the window [${base}, ${base + length})`);
  return walkEntries(buf, base, from, base + length, used, onEntry);
}

/** The walk of both: file bytes [from, end) are in `buf` from index `from - base`. */
function walkEntries(
  buf: Buffer,
  base: number,
  from: number,
  end: number,
  used: number,
  onEntry: (keyStart: number, keyLength: number, offset: number, valueOffset: number) => void,
): number {
  let pos = from;
  while (pos < end) {
    if (pos + 4 > end) {
      if (end === used) throw new CorruptFileError(`entry at offset ${pos} has no room for its length before used (${used})`);
      break;
    }
    const keyLength = buf.readInt32LE(pos - base);
    if (keyLength < 0) throw new CorruptFileError(`entry at offset ${pos} has a negative key length (${keyLength})`);
    const valueOffset = pos + 4 + keyLength + paddingFor(keyLength);
    if (valueOffset + 16 > used) {
      throw new CorruptFileError(`entry at offset ${pos} (key length ${keyLength}) runs past used (${used})`);
    }
    if (valueOffset + 16 > end) break;
    try {
      onEntry(pos - base + 4, keyLength, pos, valueOffset);
    } catch (err) {
      throw asCorruptKey(err, pos);
    }
    pos = valueOffset + 16;
  }
  return pos;
}

/** What to throw for `err` from the handling of the entry at `offset`: a key's format error makes the file corrupt there. */
export function asCorruptKey(err: unknown, offset: number): unknown {
  return err instanceof KeyFormatError ? new CorruptFileError(`key at offset ${offset}: ${err.message}`) : err;
}

/**
 * Walks the entries as scanEntryBytes does and calls `onKey` with each entry's key text
 * (strict UTF-8) and where the entry and its value are.
 */
export function scanEntries(
  buf: Buffer,
  used: number,
  from: number,
  onKey: (key: string, offset: number, keyLength: number, valueOffset: number) => void,
): number {
  return scanEntryBytes(buf, used, from, (keyStart, keyLength, offset, valueOffset) => {
    const key = keyText(buf, keyStart, keyStart + keyLength);
    if (key === null) throw new CorruptFileError(`key at offset ${offset} is not valid UTF-8`);
    onKey(key, offset, keyLength, valueOffset);
  });
}

/** The key bytes [start, end) as text; throws a KeyFormatError if they are not valid UTF-8. */
export function keyTextOf(buf: Buffer, start: number, end: number): string {
  const key = keyText(buf, start, end);
  if (key === null) throw new KeyFormatError('key is not valid UTF-8');
  return key;
}

/**
 * The key bytes as text, or null if they are not valid UTF-8. Keys written by Python or
 * by us are ASCII (json.dumps escapes the rest), which needs no validation beyond the
 * byte check and decodes as one-byte text.
 */
export function keyText(buf: Buffer, start: number, end: number): string | null {
  for (let i = start; i < end; i++) {
    if (buf[i] > 0x7f) {
      try {
        return utf8.decode(buf.subarray(start, end));
      } catch {
        return null;
      }
    }
  }
  return buf.toString('latin1', start, end);
}

/**
 * Parses the entries in [from, used) of `buf`, calling `onEntry` for each.
 * Returns the offset where parsing stopped (== used for a well-formed file).
 */
export function parseEntries(buf: Buffer, used: number, from: number, onEntry: (entry: ParsedEntry) => void): number {
  return scanEntries(buf, used, from, (key, offset, keyLength, valueOffset) => {
    onEntry({ ...decodeKey(key), key, offset, keyLength, pad: paddingFor(keyLength), valueOffset });
  });
}
