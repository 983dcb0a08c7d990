// What the file system under a metrics directory means for reading it.
import fs from 'node:fs';

/** statfs f_type of tmpfs (/dev/shm, Kubernetes' memory emptyDir) and of ramfs. */
const TMPFS_MAGIC = 0x01021994;
const RAMFS_MAGIC = 0x858458f6;

/**
 * Whether `dir` is on tmpfs or ramfs (Linux), where mapping a file costs a page fault per
 * 4 KiB page: false when it is not, or when that cannot be told.
 */
export function onMemoryFileSystem(dir: string): boolean {
  try {
    const type = fs.statfsSync(dir).type;
    return type === TMPFS_MAGIC || type === RAMFS_MAGIC;
  } catch {
    return false;
  }
}
