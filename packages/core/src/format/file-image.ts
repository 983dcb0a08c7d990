// Builds a whole metrics file in memory, for files written in one go (archives):
// the same layout and sizes as the mapped writer, so Python reads them alike.
import { HEADER_BYTES, entrySize, writeEntryHead } from './entries.js';
import { INITIAL_FILE_BYTES } from './mapped-file.js';

export interface ImageEntry {
  key: string;
  value: number;
  timestamp: number;
}

export function buildFileImage(entries: readonly ImageEntry[]): Buffer {
  let used = HEADER_BYTES;
  const keyLengths = entries.map((e) => Buffer.byteLength(e.key, 'utf8'));
  for (const n of keyLengths) used += entrySize(n);
  if (used > 0x7fffffff) throw new Error(`file image of ${used} bytes exceeds the format's 2 GiB limit`);
  let capacity = INITIAL_FILE_BYTES;
  while (capacity < used) capacity *= 2;
  const buf = Buffer.alloc(capacity);
  let at = HEADER_BYTES;
  entries.forEach((entry, i) => {
    const n = keyLengths[i];
    const valueOffset = writeEntryHead(buf, at, entry.key, n);
    buf.writeDoubleLE(entry.value, valueOffset);
    buf.writeDoubleLE(entry.timestamp, valueOffset + 8);
    at = valueOffset + 16;
  });
  buf.writeInt32LE(used, 0);
  return buf;
}
