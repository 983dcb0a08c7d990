// Recognises files written by prometheus_client ≤ 0.17 (one float64 per entry, no
// timestamp; FORMAT.md §1), so a reader that rejects such a file can say why.
import fs from 'node:fs';
import { HEADER_BYTES, paddingFor } from './entries.js';

/**
 * True when the file's used bytes parse cleanly as the pre-0.18 layout: every entry is
 * length, key, padding and ONE float64, and every key is a JSON array. Only meant for
 * diagnosing a file the current reader already rejected.
 */
export function looksLikePre018File(filePath: string): boolean {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(filePath);
  } catch {
    return false;
  }
  if (buf.length < HEADER_BYTES) return false;
  const used = buf.readInt32LE(0);
  if (used <= HEADER_BYTES || used > buf.length) return false;
  let pos = HEADER_BYTES;
  while (pos < used) {
    if (pos + 4 > used) return false;
    const keyLength = buf.readInt32LE(pos);
    const end = pos + 4 + keyLength + paddingFor(keyLength) + 8;
    if (keyLength < 0 || end > used) return false;
    try {
      if (!Array.isArray(JSON.parse(buf.toString('utf8', pos + 4, pos + 4 + keyLength)))) return false;
    } catch {
      return false;
    }
    pos = end;
  }
  return true;
}

export const PRE_018_HINT =
  'its layout matches prometheus_client <= 0.17 (one value per entry, no timestamp); ' +
  'wipe the directory when upgrading';
