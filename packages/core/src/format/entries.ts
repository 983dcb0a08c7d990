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
 * Parses the entries in [from, used) of `buf`, calling `onEntry` for each.
 * Returns the offset where parsing stopped (== used for a well-formed file).
 */
export function parseEntries(
  buf: Buffer,
  used: number,
  from: number,
  onEntry: (entry: ParsedEntry) => void,
  decode: (key: string) => DecodedKey = decodeKey,
): number {
  if (used > buf.length) throw new CorruptFileError(`used (${used}) is beyond the ${buf.length} bytes read`);
  let pos = from;
  while (pos < used) {
    if (pos + 4 > used) throw new CorruptFileError(`entry at offset ${pos} has no room for its length before used (${used})`);
    const keyLength = buf.readInt32LE(pos);
    if (keyLength < 0) throw new CorruptFileError(`entry at offset ${pos} has a negative key length (${keyLength})`);
    const pad = paddingFor(keyLength);
    const valueOffset = pos + 4 + keyLength + pad;
    if (valueOffset + 16 > used) {
      throw new CorruptFileError(`entry at offset ${pos} (key length ${keyLength}) runs past used (${used})`);
    }
    let key: string;
    try {
      key = utf8.decode(buf.subarray(pos + 4, pos + 4 + keyLength));
    } catch {
      throw new CorruptFileError(`key at offset ${pos} is not valid UTF-8`);
    }
    let decoded: DecodedKey;
    try {
      decoded = decode(key);
    } catch (err) {
      if (err instanceof KeyFormatError) throw new CorruptFileError(`key at offset ${pos}: ${err.message}`);
      throw err;
    }
    onEntry({ ...decoded, key, offset: pos, keyLength, pad, valueOffset });
    pos = valueOffset + 16;
  }
  return pos;
}
