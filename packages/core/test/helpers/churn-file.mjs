// Changes one metrics file under a collector, in a loop, as a buggy or hostile process
// would (docs/security.md): grows it in place, truncates it (at a page boundary and
// inside a page) and restores it, replaces it by a rename with the same series laid out
// differently. Every state it leaves is either a good file or a cut one, never one with
// other values: a reader may skip the file, never serve another value.
//
//   node churn-file.mjs TARGET FULL GROWN SHUFFLED
//
// FULL, GROWN and SHUFFLED are file images (GROWN = FULL plus entries appended; SHUFFLED =
// FULL's entries in another order). Prints "cycle N" after each cycle; runs until killed.
import fs from 'node:fs';

const [target, fullFile, grownFile, shuffledFile] = process.argv.slice(2);
const full = fs.readFileSync(fullFile);
const grown = fs.readFileSync(grownFile);
const shuffled = fs.readFileSync(shuffledFile);
const usedOf = (image) => image.readInt32LE(0);
const PAGE = 4096;
const pause = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Puts `image` at `target` by a rename: a new inode, as the compactor or a restart does. */
function replaceWith(image) {
  const temp = `${target}.churn.tmp`;
  fs.writeFileSync(temp, image);
  fs.renameSync(temp, target);
}

replaceWith(full);
for (let cycle = 1; ; cycle++) {
  const fd = fs.openSync(target, 'r+');
  // Grows in place past the file's size: a bigger file first, then the new entries, then `used`.
  fs.ftruncateSync(fd, grown.length);
  fs.writeSync(fd, grown, usedOf(full), usedOf(grown) - usedOf(full), usedOf(full));
  const header = Buffer.alloc(4);
  header.writeInt32LE(usedOf(grown), 0);
  fs.writeSync(fd, header, 0, 4, 0);
  pause(2);
  // Cuts it at a page boundary below `used` (the pages past it fault if read through a
  // mapping), then writes the tail back in one write (the size never covers unwritten bytes).
  const cut = Math.floor(usedOf(grown) / 2 / PAGE) * PAGE;
  fs.ftruncateSync(fd, cut);
  pause(2);
  fs.writeSync(fd, grown, cut, grown.length - cut, cut);
  pause(2);
  // Cuts it inside the page of the last entry's value (those bytes read as zeros through
  // a mapping), and leaves it so until it is replaced.
  fs.ftruncateSync(fd, usedOf(grown) - 12);
  fs.closeSync(fd);
  pause(2);
  replaceWith(shuffled);
  pause(2);
  replaceWith(full);
  pause(1);
  process.stdout.write(`cycle ${cycle}\n`);
}
