// Gzip of an exposition that mostly repeats the previous one. Compressing a whole scrape
// costs far more than merging and rendering it (8 MB at 8 workers x 10,000 series: tens
// of ms at level 6), yet most of its bytes are the same as last time. So the body is
// compressed in parts (split where the renderer says lines may be cut: at families and
// every few hundred lines), each part as raw deflate ending in a sync flush, with the
// DICTIONARY_BYTES before it as its preset dictionary: it depends on those bytes and its
// own, nothing else. A part at the same offsets as a part of the previous body, whose
// bytes and dictionary the renderer did not change (it renders over its previous output
// in place and knows which bytes it changed: collect/exposition-cache.ts), keeps its
// compressed bytes; no copy of the previous body is kept to compare with (8 MB at
// 75,000 samples). The parts, one final empty block, and a gzip
// header and trailer (CRC-32 and length of the whole body) make one ordinary gzip member
// (RFC 1951, RFC 1952), which any gzip reader accepts.
import zlib from 'node:zlib';
import type { BodyChanges } from '../collect/exposition-cache.js';

/** zlib.crc32 (Node >= 20.15); without it the body is compressed whole every time. */
const crc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** ID1 ID2, CM deflate, no flags, no mtime, XFL 0, OS Unix: as zlib writes it. */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03]);
/** A final, empty block with fixed codes: ends the deflate stream after the sync-flushed parts. */
const FINAL_EMPTY_BLOCK = Buffer.from([0x03, 0x00]);
/**
 * The bytes before a part that its back-references may reach (the reader has them in its
 * window). Measured at 8 x 10,000: parts without one compress to 21% more than the whole
 * body in one go; with 4 KiB, 6% more; with 32 KiB, 2% more, but slower to compress.
 */
const DICTIONARY_BYTES = 4096;

interface Part {
  /** Where its dictionary starts and where it ends, in the body it was compressed from. */
  from: number;
  end: number;
  deflated: Buffer;
}

/** Compresses the successive bodies of one exposition (one format of one collector). */
export class GzipParts {
  /** The parts of the previous body, by where they start. */
  private parts = new Map<number, Part>();
  /** The renderer of the previous body, and its `renders` then (NaN: none, or not known). */
  private compressedBy: BodyChanges | undefined;
  private compressedRender = NaN;

  /**
   * `ends`: byte offsets in `body` where a part may end, ascending. `changes`: what its
   * renderer knows of `body` against its output before; parts are reused only when that
   * output is the body compressed last time (the same renderer, no render in between),
   * else all are compressed.
   */
  compress(body: Buffer, ends: readonly number[], changes?: BodyChanges): Buffer {
    if (crc32 === undefined) return zlib.gzipSync(body);
    const known = changes !== undefined && changes === this.compressedBy && changes.renders === this.compressedRender + 1;
    const parts = new Map<number, Part>();
    const pieces: Buffer[] = [GZIP_HEADER];
    let crc = 0;
    let start = 0;
    for (let i = 0; i <= ends.length; i++) {
      const end = i < ends.length ? Math.min(ends[i], body.length) : body.length;
      if (end <= start) continue;
      const from = Math.max(0, start - DICTIONARY_BYTES);
      const old = known ? this.parts.get(start) : undefined;
      const bytes = body.subarray(start, end);
      const same = old !== undefined && old.from === from && old.end === end && changes!.unchanged(from, end);
      const deflated = same
        ? old.deflated
        : ownBytes(zlib.deflateRawSync(bytes, { finishFlush: zlib.constants.Z_SYNC_FLUSH, ...(from < start ? { dictionary: body.subarray(from, start) } : {}) }));
      parts.set(start, { from, end, deflated });
      pieces.push(deflated);
      crc = crc32(bytes, crc);
      start = end;
    }
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(crc >>> 0, 0);
    trailer.writeUInt32LE(body.length % 2 ** 32, 4);
    pieces.push(FINAL_EMPTY_BLOCK, trailer);
    this.parts = parts;
    this.compressedBy = changes;
    this.compressedRender = changes?.renders ?? NaN;
    return Buffer.concat(pieces);
  }
}

/**
 * The bytes in a buffer of their own size. zlib's sync calls return their output as a
 * view of a 16 KiB output buffer: a kept part of ~1 KB would keep all of it (~5 MB for
 * the ~300 parts of 75,000 samples).
 */
function ownBytes(bytes: Buffer): Buffer {
  if (bytes.byteLength === bytes.buffer.byteLength) return bytes;
  const own = Buffer.allocUnsafeSlow(bytes.byteLength);
  bytes.copy(own);
  return own;
}
