// Gzip of an exposition that mostly repeats the previous one. Compressing a whole scrape
// costs far more than merging and rendering it (8 MB at 8 workers x 10,000 series: tens
// of ms at level 6), yet most of its bytes are the same as last time. So the body is
// compressed in parts (split where the renderer says lines may be cut: at families and
// every few hundred lines), each part as raw deflate ending in a sync flush, with the
// DICTIONARY_BYTES before it as its preset dictionary: it depends on those bytes and its
// own, nothing else. A part whose bytes and dictionary equal those of a part of the
// previous body keeps its compressed bytes. The parts, one final empty block, and a gzip
// header and trailer (CRC-32 and length of the whole body) make one ordinary gzip member
// (RFC 1951, RFC 1952), which any gzip reader accepts.
import zlib from 'node:zlib';

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
/** A part's first line is its key; longer ones are cut (the bytes are compared anyway). */
const KEY_BYTES = 512;

interface Part {
  /** Where its dictionary starts, where it starts and ends, in the body it was compressed from. */
  from: number;
  start: number;
  end: number;
  deflated: Buffer;
}

/** Compresses the successive bodies of one exposition (one format of one collector). */
export class GzipParts {
  /** A copy of the previous body (in a buffer of its own, reused: see collect/exposition-cache.ts on why). */
  private previous: Buffer | null = null;
  private previousLength = 0;
  private parts = new Map<string, Part>();

  /** `ends`: byte offsets in `body` where a part may end, ascending. */
  compress(body: Buffer, ends: readonly number[]): Buffer {
    if (crc32 === undefined) return zlib.gzipSync(body);
    const previous = this.previous?.subarray(0, this.previousLength) ?? null;
    const parts = new Map<string, Part>();
    const pieces: Buffer[] = [GZIP_HEADER];
    let crc = 0;
    let start = 0;
    for (let i = 0; i <= ends.length; i++) {
      const end = i < ends.length ? Math.min(ends[i], body.length) : body.length;
      if (end <= start) continue;
      const newline = body.indexOf(0x0a, start);
      const key = body.toString('latin1', start, Math.min(newline < 0 ? end : newline, end, start + KEY_BYTES));
      const from = Math.max(0, start - DICTIONARY_BYTES);
      const old = this.parts.get(key);
      const bytes = body.subarray(start, end);
      const same =
        old !== undefined && previous !== null && old.start - old.from === start - from && old.end - old.start === end - start &&
        previous.compare(body, from, end, old.from, old.end) === 0;
      const deflated = same
        ? old.deflated
        : zlib.deflateRawSync(bytes, { finishFlush: zlib.constants.Z_SYNC_FLUSH, ...(from < start ? { dictionary: body.subarray(from, start) } : {}) });
      parts.set(key, { from, start, end, deflated });
      pieces.push(deflated);
      crc = crc32(bytes, crc);
      start = end;
    }
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(crc >>> 0, 0);
    trailer.writeUInt32LE(body.length % 2 ** 32, 4);
    pieces.push(FINAL_EMPTY_BLOCK, trailer);
    if (this.previous === null || this.previous.length < body.length || this.previous.length > 2 * body.length + 65536) {
      this.previous = Buffer.allocUnsafeSlow(body.length + (body.length >> 4));
    }
    body.copy(this.previous);
    this.previousLength = body.length;
    this.parts = parts;
    return Buffer.concat(pieces);
  }
}
