// Recognises files written by prometheus_client ≤ 0.17 (one float64 per entry, no
// timestamp; FORMAT.md §1), so a reader that rejects such a file can say why.
import fs from 'node:fs';
import { HEADER_BYTES, paddingFor } from './entries.js';
import { isOpenProblem, openRegularForRead } from './safe-files.js';

/**
 * How much of a file the check reads. It is a hint for a file already rejected, so the
 * entries in the first 64 KiB decide: a corrupt or hostile file (a 2 GiB sparse one,
 * say) costs at most this much.
 */
const LEGACY_CHECK_BYTES = 64 * 1024;

/**
 * True when the file's used bytes (up to the first 64 KiB of them) parse cleanly as the
 * pre-0.18 layout: every entry is length, key, padding and ONE float64, and every key is
 * a JSON array. Only meant for diagnosing a file the current reader already rejected.
 */
export function looksLikePre018File(filePath: string): boolean {
  const opened = openRegularForRead(filePath);
  if (isOpenProblem(opened)) return false;
  let buf: Buffer;
  try {
    buf = Buffer.alloc(Math.min(opened.stat.size, LEGACY_CHECK_BYTES));
    let got = 0;
    while (got < buf.length) {
      const n = fs.readSync(opened.fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
    buf = buf.subarray(0, got);
  } catch {
    return false;
  } finally {
    fs.closeSync(opened.fd);
  }
  if (buf.length < HEADER_BYTES) return false;
  const used = buf.readInt32LE(0);
  if (used <= HEADER_BYTES || used > opened.stat.size) return false;
  const end = Math.min(used, buf.length);
  let pos = HEADER_BYTES;
  let entries = 0;
  while (pos < end) {
    if (pos + 4 > end) break;
    const keyLength = buf.readInt32LE(pos);
    const next = pos + 4 + keyLength + paddingFor(keyLength) + 8;
    if (keyLength < 0 || next > used) return false;
    if (next > end) break; // the rest is beyond what the check reads
    try {
      if (!Array.isArray(JSON.parse(buf.toString('utf8', pos + 4, pos + 4 + keyLength)))) return false;
    } catch {
      return false;
    }
    entries++;
    pos = next;
  }
  return entries > 0;
}

export const PRE_018_HINT =
  'its layout matches prometheus_client <= 0.17 (one value per entry, no timestamp); ' +
  'wipe the directory when upgrading';
