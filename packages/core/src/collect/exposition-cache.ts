// Renders the exposition of every scrape as UTF-8 bytes, reusing the previous scrape's
// bytes: a merged sample keeps its rendered `name{labels} ` prefix from scrape to scrape
// (collect/merge.ts; as two shared parts, `lineName` and `lineLabels`), and most values do not change between two scrapes, so a line with
// the same prefix, value (and exemplar) as in the previous output is copied from there
// instead of formatted and encoded again; runs of such lines are one copy each.
// Whatever cannot be reused (a changed value, a sample without `lineLabels`, the HELP
// and TYPE lines) is rendered as `renderText` / `renderOpenMetrics` render it, so the
// bytes equal theirs (tested).
//
// A merged family (its values kept as numbers: `sampleValues`) is known by its samples
// array: a merge makes a new array whenever the family's samples change, so the same
// array means the same lines in the same order as last time, and only its values are
// compared, as numbers, without visiting the samples (unless an exemplar may be on one of
// its lines: one whose sample name is among the family's).
import { floatToGoString, sameNumber } from '../format/number.js';
import { OPENMETRICS_EOF, familyExemplars, familyHeader, samplePrefix, sampleValues, samplesOf, type Family, type Sample } from './exposition.js';

/** Lines rendered fresh are gathered into a string of about this many characters before one write. */
const CHUNK_CHARS = 64 * 1024;
/** Lines of one family per part of the output (see `partEnds`). */
const LINES_PER_PART = 256;
/** How far past the expected place a line is looked for in the previous output. */
const LOOKAHEAD = 8;
/** Lines not found nearby before every line's place is looked up (a map, built once per render). */
const MISSES_BEFORE_INDEX = 64;

/**
 * Where each reusable line is in an output, in order: its prefix (as its sample keeps it:
 * name and labels, two shared strings compared by reference first), byte range, the value it shows.
 */
class LineTable {
  names: string[] = [];
  labels: string[] = [];
  /** The exemplar suffix each line ends with (OpenMetrics only). */
  suffixes: string[] = [];
  starts = new Int32Array(1024);
  ends = new Int32Array(1024);
  values = new Float64Array(1024);
  count = 0;
  /**
   * Per family of the output, in order: its samples array when every one of its lines is
   * recorded here, from line `groupFirst[f]` on, without exemplars, and the array has
   * values kept as numbers (`sampleValues`); else null. The same array at the same line
   * next time means the same lines (prefixes) in the same order: only values are compared.
   */
  groupSamples: Array<readonly Sample[] | null> = [];
  groupFirst: number[] = [];
  groupLength: number[] = [];
  /** The sample names (as exposed) of each such family: an exemplar of another name is not on its lines. */
  groupNames: Array<ReadonlySet<string> | null> = [];

  push(name: string, labels: string, start: number, end: number, value: number, suffix: string | undefined): void {
    const i = this.count++;
    if (i === this.starts.length) this.grow(i + 1);
    this.names[i] = name;
    this.labels[i] = labels;
    if (suffix !== undefined) this.suffixes[i] = suffix;
    this.starts[i] = start;
    this.ends[i] = end;
    this.values[i] = value;
  }

  /** Becomes the first `count` lines and `groups` families of `other`. */
  copyFrom(other: LineTable, count: number, groups: number): void {
    this.groupSamples = other.groupSamples.slice(0, groups);
    this.groupFirst = other.groupFirst.slice(0, groups);
    this.groupLength = other.groupLength.slice(0, groups);
    this.groupNames = other.groupNames.slice(0, groups);
    if (count > this.starts.length) this.grow(count);
    this.names = other.names.slice(0, count);
    this.labels = other.labels.slice(0, count);
    this.suffixes = other.suffixes.slice(0, count);
    this.starts.set(other.starts.subarray(0, count));
    this.ends.set(other.ends.subarray(0, count));
    this.values.set(other.values.subarray(0, count));
    this.count = count;
  }

  /** Keeps the first `count` lines; forgets the strings of the rest. */
  truncate(count: number, groups = 0): void {
    this.count = count;
    this.groupSamples.length = this.groupFirst.length = this.groupLength.length = this.groupNames.length = groups;
    if (this.names.length > count) this.names.length = this.labels.length = count;
    if (this.suffixes.length > count) this.suffixes.length = count;
  }

  private grow(atLeast: number): void {
    let size = this.starts.length * 2;
    while (size < atLeast) size *= 2;
    const starts = new Int32Array(size);
    starts.set(this.starts);
    const ends = new Int32Array(size);
    ends.set(this.ends);
    const values = new Float64Array(size);
    values.set(this.values);
    this.starts = starts;
    this.ends = ends;
    this.values = values;
  }
}

const EMPTY = Buffer.alloc(0);


/**
 * What a renderer knows of its last output against the one before: the server's gzip
 * (serve/gzip-parts.ts) keeps the compressed bytes of parts that did not change instead
 * of a copy of the previous body to compare with.
 */
export interface BodyChanges {
  /** Outputs rendered so far, the last one included. */
  readonly renders: number;
  /** Whether bytes [from, end) of the last output are the bytes at the same offsets of the output before it. */
  unchanged(from: number, end: number): boolean;
}

/** A text op longer than this is written without comparing it with the bytes it replaces (counted as changed). */
const COMPARED_TEXT_BYTES = 1024;
/** The buffer of new text stays up to this size between renders (a larger one is made again when needed). */
const KEPT_TEXT_BYTES = 1024 * 1024;

/**
 * One format's renderer of one collector. It keeps one buffer: a render over a previous
 * output first records what goes where (runs of the previous bytes to copy, text to
 * write; a known family's changed value as long as the one its line shows is written over
 * that line right away, and moves with it) and then moves and writes it in that same buffer, and returns a view of it:
 * valid until the next render, so copy or consume it before rendering again. A second
 * buffer (8 MB at 75,000 samples) is made only when the output outgrows the buffer or
 * reuses lines out of their order; the old one is then dropped. (A new buffer per render
 * would leave a dead 8 MB buffer per scrape, which the garbage collector frees only in a
 * full collection: tens of MB of RSS until then.)
 */
export class CachedExposition implements BodyChanges {
  renders = 0;
  /**
   * The byte ranges of the last output that may differ from the output before at the same
   * offsets, [start, end) pairs in order, unless `allChanged` (a first output, or one made
   * in a new buffer).
   */
  private changed = new Int32Array(256);
  private changedPairs = 0;
  private allChanged = true;
  /** The previous output: `previous[0, previousLength)`. */
  private previous: Buffer | null = null;
  private previousLength = 0;
  /**
   * While rendering over a previous output, what the output is made of, in order: op `i`
   * puts `opLength[i]` bytes at `opAt[i]`, copied from `opFrom[i]` of the previous output,
   * or (`opFrom[i]` < 0) from `-opFrom[i] - 1` of `text`, where new text is written first.
   */
  private opAt = new Int32Array(1024);
  private opFrom = new Int32Array(1024);
  private opLength = new Int32Array(1024);
  private text = Buffer.allocUnsafeSlow(64 * 1024);
  private textLength = 0;
  /**
   * Values written over copied lines after the ops (see `rewriteValue`): overlay `i` puts
   * `overlayLength[i]` bytes of `text` from `overlayFrom[i]` at `overlayAt[i]` of the output, in output order;
   * `overlayFrom[i]` < 0: those bytes were written over the copied line before the copies (only noted as changed).
   */
  private overlayAt = new Int32Array(1024);
  private overlayFrom = new Int32Array(1024);
  private overlayLength = new Int32Array(1024);
  private overlays = 0;
  /** Whether op `i` changed the bytes it wrote over (in place; see `apply`). */
  private opChanged = new Uint8Array(1024);
  private ops = 0;
  /** Whether the copies read the previous output in order, each after the one before (then they can be done in place). */
  private copiesInOrder = true;
  private lastCopyEnd = 0;
  /** The lines of `previous`; updated in place while the lines come in the same order. */
  private table = new LineTable();
  private spare = new LineTable();

  // The output being written.
  private out: Buffer = EMPTY;
  private length = 0;
  /** A range of `previous` not yet copied into `out` (it grows while lines are reused). */
  private copyStart = 0;
  private copyEnd = 0;
  /**
   * Text rendered fresh, not yet written into `out`; the recorded lines from `chunkFrom`
   * to `recorded` are at character offsets into it until it is written.
   */
  private chunk = '';
  private chunkFrom = 0;
  /** Lines recorded for the output being written. */
  private recorded = 0;
  /** The table the output's lines are recorded in. */
  private lines = this.table;

  /**
   * Byte offsets in the last output where a part ends: before every family but the
   * first, and every LINES_PER_PART lines of a family. A part's bytes change only when
   * one of its lines does, so a consumer can keep what it derived from a part (the
   * server's gzip: serve/gzip-parts.ts).
   */
  partEnds: number[] = [];

  constructor(private readonly openMetrics: boolean) {}

  render(families: readonly Family[], exemplars?: ReadonlyMap<string, string>): Buffer {
    try {
      return this.renderReusing(families, exemplars);
    } catch (err) {
      // The table may be half updated in place: start over from nothing next time (and
      // count the render, so no consumer takes the next output for a change of the last).
      this.renders++;
      this.previous = null;
      this.ops = 0;
      this.overlays = 0;
      this.textLength = 0;
      this.table.truncate(0);
      this.spare.truncate(0);
      this.out = EMPTY;
      this.chunk = '';
      throw err;
    }
  }

  private renderReusing(families: readonly Family[], exemplars: ReadonlyMap<string, string> | undefined): Buffer {
    const previous = this.previous;
    const old = this.table;
    // While every line is where it was, the table is updated in place (in a steady
    // scrape: only the changed values and shifted offsets are written). From the first
    // line that is not, the lines go to the spare table and `old` is only read, from
    // `oldFrom` on (its lines before were already overwritten).
    let inPlace = previous !== null;
    let oldFrom = 0;
    let lines = inPlace ? old : this.spare;
    if (!inPlace) lines.truncate(0);
    this.lines = lines;
    // The first time: room for the lines' prefixes and values (growing by doubling would
    // keep up to twice the bytes alive). Later the output is recorded, and made at the end.
    this.out = previous === null ? Buffer.allocUnsafeSlow(sizeEstimate(families)) : EMPTY;
    this.ops = 0;
    this.overlays = 0;
    this.copiesInOrder = true;
    this.lastCopyEnd = 0;
    this.length = this.copyStart = this.copyEnd = this.chunkFrom = this.recorded = 0;
    this.chunk = '';
    let misses = 0;
    let expected = 0; // where in `old` the next line is looked for, once not in place
    let positions: Map<string, Map<string, number>> | undefined;
    let groups: Map<readonly Sample[], number> | undefined;
    // The sample names that have an exemplar (OpenMetrics): a known family with none of them has none.
    const exemplarNames = this.openMetrics && exemplars !== undefined && exemplars.size > 0 ? namesOf(exemplars) : undefined;
    const partEnds: number[] = (this.partEnds = []);
    for (let f = 0; f < families.length; f++) {
      const family = families[f];
      this.endPart(partEnds);
      this.addText(familyHeader(family, this.openMetrics));
      const withExemplars = this.openMetrics ? familyExemplars(family, exemplars) : undefined;
      // The array, not `family.samples`: that would write every merged value into its sample object.
      // A merged family's values are read from `values` only (here and line by line below).
      const samples = samplesOf(family);
      let values = sampleValues.get(samples);
      if (values !== undefined && values.length !== samples.length) values = undefined;
      const first = this.recorded;
      if (values !== undefined) {
        // The family's lines in the previous output, in the same order: compare values only.
        if (inPlace && old.groupSamples[f] === samples && old.groupFirst[f] === first && old.groupLength[f] === values.length &&
          (withExemplars === undefined || !sharesName(exemplarNames!, old.groupNames[f]!))) {
          this.renderValues(values, old, first, partEnds);
          continue;
        }
        const g = inPlace ? undefined : (groups ??= groupsOf(old)).get(samples);
        if (g !== undefined && old.groupFirst[g] >= oldFrom && old.groupLength[g] === values.length &&
          (withExemplars === undefined || !sharesName(exemplarNames!, old.groupNames[g]!))) {
          this.renderValues(values, old, old.groupFirst[g], partEnds);
          expected = old.groupFirst[g] + values.length;
          lines.groupSamples[f] = samples;
          lines.groupFirst[f] = first;
          lines.groupLength[f] = values.length;
          lines.groupNames[f] = old.groupNames[g];
          continue;
        }
      }
      // The family's sample names as exposed, and whether any line has an exemplar (for the next render).
      const names = values !== undefined ? new Set<string>() : null;
      let lastName: string | undefined;
      let suffixed = false;
      let linesInPart = 0;
      // Line by line, the values from `values` where the family keeps them (its sample
      // objects may hold older ones: `mergedSamples`), else from the samples.
      const lineSamples = values !== undefined ? samples : family.samples;
      for (let i = 0; i < lineSamples.length; i++) {
        const sample = lineSamples[i];
        if (++linesInPart > LINES_PER_PART) {
          this.endPart(partEnds);
          linesInPart = 1;
        }
        const value = values !== undefined ? values[i] : sample.value;
        const labels = sample.lineLabels;
        if (labels === undefined) {
          // Not a kept line: rendered fresh, not recorded.
          const own = samplePrefix(sample.name, sample.labels);
          this.addText(own + floatToGoString(value) + (withExemplars?.get(own) ?? '') + '\n');
          continue;
        }
        const name = sample.lineName!;
        // Exemplars are keyed by the whole prefix: made only for a family that may have one.
        const suffix = this.openMetrics ? (withExemplars !== undefined ? (withExemplars.get(name + labels) ?? '') : '') : undefined;
        if (suffix) suffixed = true;
        if (names !== null && name !== lastName) names.add((lastName = name));
        const n = this.recorded;
        if (inPlace) {
          if (n < old.count && old.labels[n] === labels && old.names[n] === name) {
            if (sameNumber(old.values[n], value) && (suffix === undefined || old.suffixes[n] === suffix)) {
              this.reuse(old.starts[n], old.ends[n], n);
            } else {
              old.values[n] = value;
              if (suffix !== undefined) old.suffixes[n] = suffix;
              this.fresh(name + labels + floatToGoString(value) + (suffix ?? '') + '\n', n);
            }
            this.recorded++;
            continue;
          }
          // Lines were added or removed here: record the rest apart.
          inPlace = false;
          oldFrom = expected = n;
          lines = this.lines = this.spare;
          lines.copyFrom(old, n, f);
        }
        // Look for the line a little past where it was expected, then (after many misses
        // in one render, as when a family is gone) by its prefix among all lines.
        let at = -1;
        for (let i = expected, to = Math.min(expected + LOOKAHEAD, old.count); i < to; i++) {
          if (old.labels[i] === labels && old.names[i] === name) {
            at = i;
            break;
          }
        }
        if (at < 0 && old.count > oldFrom && ++misses > MISSES_BEFORE_INDEX) {
          const found = (positions ??= positionsOf(old)).get(name)?.get(labels);
          if (found !== undefined && found >= oldFrom) at = found;
        }
        if (at >= 0) expected = at + 1;
        lines.push(name, labels, 0, 0, value, suffix);
        if (at >= 0 && sameNumber(old.values[at], value) && (suffix === undefined || old.suffixes[at] === suffix)) {
          this.reuse(old.starts[at], old.ends[at], n);
        } else {
          this.fresh(name + labels + floatToGoString(value) + (suffix ?? '') + '\n', n);
        }
        this.recorded++;
      }
      lines.groupSamples[f] = values !== undefined && !suffixed && this.recorded - first === values.length ? samples : null;
      lines.groupFirst[f] = first;
      lines.groupLength[f] = this.recorded - first;
      lines.groupNames[f] = names;
    }
    if (this.openMetrics) this.addText(OPENMETRICS_EOF);
    this.flushCopy();
    this.flushChunk(this.recorded);
    if (inPlace) {
      old.truncate(this.recorded, families.length);
    } else {
      lines.truncate(this.recorded, families.length);
      this.table = lines;
      this.spare = old;
      old.truncate(0);
    }
    this.changedPairs = 0;
    this.allChanged = true;
    if (previous !== null) this.out = this.make(previous);
    this.renders++;
    const body = this.out.subarray(0, this.length);
    this.previous = this.out;
    this.previousLength = this.length;
    this.out = EMPTY;
    return body;
  }

  /**
   * A known family: `old` recorded its lines from line `from` on for the same samples
   * array (so the same prefixes in the same order, without exemplars). A line is copied
   * from the previous output unless its value changed. In place (`old` is the table being
   * written, `from` the next line) the table is only updated where a value changed.
   */
  private renderValues(values: Float64Array, old: LineTable, from: number, partEnds: number[]): void {
    const lines = this.lines;
    if (lines === old) {
      this.renderValuesInPlace(values, old, from, partEnds);
      return;
    }
    const known = old.values;
    const count = values.length;
    for (let k = 0; k < count; ) {
      if (k > 0 && k % LINES_PER_PART === 0) this.endPart(partEnds);
      const partEnd = Math.min(count, k - (k % LINES_PER_PART) + LINES_PER_PART);
      // A run of lines whose values did not change, then (if the part goes on) one that did.
      let j = k;
      for (; j < partEnd; j++) {
        if (!sameNumber(values[j], known[from + j])) break;
      }
      if (j > k) this.reuseRun(old, from + k, j - k);
      if (j < partEnd) {
        const at = from + j;
        const value = values[j];
        lines.push(old.names[at], old.labels[at], 0, 0, value, this.openMetrics ? '' : undefined);
        this.rewriteValue(old.starts[at], old.ends[at], value, this.recorded++);
        j++;
      }
      k = j;
    }
  }

  /**
   * `renderValues` in place: the table's lines from `from` on are the family's lines of
   * the previous output, in order, and line n of this output is its line n. The run of
   * previous bytes being copied is kept in locals; a changed value as long as the one the
   * line shows is written over the line in the previous output at once, while its bytes
   * are in the cache (no other line of this output copies them; its copy carries the new
   * value if the line moves), else written as new text after the line's prefix.
   */
  private renderValuesInPlace(values: Float64Array, table: LineTable, from: number, partEnds: number[]): void {
    const previous = this.previous!;
    const { values: known, starts, ends } = table;
    const count = values.length;
    for (let k = 0; k < count; k += LINES_PER_PART) {
      if (k > 0) this.endPart(partEnds);
      this.flushChunk(from + k); // the family's header, before its lines
      const partEnd = Math.min(count, k + LINES_PER_PART);
      // The pending copy: previous bytes [copyStart, copyEnd), at `length` of the output.
      let copyStart = this.copyStart;
      let copyEnd = this.copyEnd;
      let length = this.length;
      for (let j = k; j < partEnd; j++) {
        const n = from + j;
        const start = starts[n];
        if (start !== copyEnd || copyStart === copyEnd) {
          if (copyStart !== copyEnd) {
            this.copyStart = copyStart;
            this.copyEnd = copyEnd;
            this.length = length;
            this.flushCopy();
            length = this.length;
          }
          copyStart = copyEnd = start;
        }
        // Where this run's bytes move to (0 until a value before them changed length).
        const shift = length - copyStart;
        if (sameNumber(values[j], known[n])) {
          // A run of lines whose values did not change (in a steady scrape, the whole part):
          // values compared only, the run's lines joining the copy in one step.
          let unchanged = j + 1;
          while (unchanged < partEnd && sameNumber(values[unchanged], known[from + unchanged])) unchanged++;
          copyEnd = ends[from + unchanged - 1];
          if (shift !== 0) {
            for (let i = n; i < from + unchanged; i++) {
              starts[i] += shift;
              ends[i] += shift;
            }
          }
          j = unchanged - 1;
          continue;
        }
        const end = ends[n];
        const value = values[j];
        known[n] = value;
        const valueAt = valueStart(previous, start, end);
        const shown = end - 1 - valueAt;
        const text = plainWhole(value) ? undefined : floatToGoString(value);
        const bytes = text === undefined ? wholeBytes(value) : text.length;
        if (bytes !== shown) {
          // Another length: the line's prefix joins the run, the value and newline are new text.
          const into = this.textRoom(32);
          writeValue(into, this.textLength, value, text);
          into[this.textLength + bytes] = 0x0a;
          starts[n] = start + shift;
          this.copyStart = copyStart;
          this.copyEnd = valueAt;
          this.length = length;
          this.flushCopy();
          this.record(-1 - this.textLength, bytes + 1);
          this.textLength += bytes + 1;
          length = this.length += bytes + 1;
          ends[n] = length;
          copyStart = copyEnd = 0;
          continue;
        }
        writeValue(previous, valueAt, value, text);
        // A line that moves is in a copy `make` notes as changed; one that does not, only here.
        if (shift === 0) this.overlay(valueAt, -1, bytes);
        copyEnd = end;
        if (shift !== 0) {
          starts[n] = start + shift;
          ends[n] = end + shift;
        }
      }
      this.copyStart = copyStart;
      this.copyEnd = copyEnd;
      this.length = length;
    }
    this.recorded = this.chunkFrom = from + count;
  }

  /**
   * Records `count` lines from line `from` of `old` as the previous output's bytes, in one
   * copy with what is pending (their offsets move by one amount; in place, not at all
   * while nothing before them changed length).
   */
  private reuseRun(old: LineTable, from: number, count: number): void {
    const n = this.recorded;
    const start = old.starts[from];
    const end = old.ends[from + count - 1];
    this.flushChunk(n);
    if (start !== this.copyEnd || this.copyStart === this.copyEnd) {
      this.flushCopy();
      this.copyStart = this.copyEnd = start;
    }
    const shift = this.length + (this.copyEnd - this.copyStart) - start;
    this.copyEnd = end;
    const lines = this.lines;
    if (lines !== old) {
      const suffix = this.openMetrics ? '' : undefined;
      for (let i = from; i < from + count; i++) lines.push(old.names[i], old.labels[i], old.starts[i] + shift, old.ends[i] + shift, old.values[i], suffix);
    } else if (shift !== 0) {
      for (let i = from; i < from + count; i++) {
        lines.starts[i] += shift;
        lines.ends[i] += shift;
      }
    }
    this.recorded = n + count;
    this.chunkFrom = n + count;
  }

  /**
   * Records line `n` as the previous output's line [start, end) (`prefix value\n`, no
   * exemplar) with another value, written as bytes (ASCII): over the line's copy when as
   * long as the old value (the line then joins the run of copies), else after its prefix.
   */
  private rewriteValue(start: number, end: number, value: number, n: number): void {
    const previous = this.previous!;
    const valueAt = valueStart(previous, start, end);
    const shown = end - 1 - valueAt;
    this.flushChunk(n); // pending text goes into `text` first: the value is written after it
    const text = plainWhole(value) ? undefined : floatToGoString(value);
    const bytes = text === undefined ? wholeBytes(value) : text.length;
    writeValue(this.textRoom(32), this.textLength, value, text);
    if (bytes === shown) {
      // As long as the value it replaces (most changes: a count going up): the whole line
      // is copied with the lines around it, and the value written over its copy once the
      // copies are done (`make`). Runs of such lines stay one copy.
      this.reuse(start, end, n);
      this.overlay(this.lines.starts[n] + valueAt - start, this.textLength, bytes);
      this.textLength += bytes;
      return;
    }
    this.reuse(start, valueAt, n);
    this.flushCopy();
    this.text[this.textLength + bytes] = 0x0a;
    this.record(-1 - this.textLength, bytes + 1);
    this.length += bytes + 1;
    this.textLength += bytes + 1;
    this.lines.ends[n] = this.length;
  }

  /** Ends a part here: writes what is pending, so the output's length is where it ends. */
  private endPart(partEnds: number[]): void {
    this.flushCopy();
    this.flushChunk(this.recorded);
    if (this.length > (partEnds.at(-1) ?? 0)) partEnds.push(this.length);
  }

  /** Records line `n` as the previous output's bytes [start, end), copied with the lines around it. */
  private reuse(start: number, end: number, n: number): void {
    this.flushChunk(n);
    if (start !== this.copyEnd || this.copyStart === this.copyEnd) {
      this.flushCopy();
      this.copyStart = this.copyEnd = start;
    }
    const here = this.length + (this.copyEnd - this.copyStart);
    this.copyEnd = end;
    const lines = this.lines;
    lines.starts[n] = here;
    lines.ends[n] = here + end - start;
    this.chunkFrom = n + 1;
  }

  /** Records line `n` as rendered fresh. */
  private fresh(line: string, n: number): void {
    this.flushCopy();
    const lines = this.lines;
    lines.starts[n] = this.chunk.length;
    this.chunk += line;
    lines.ends[n] = this.chunk.length;
    if (this.chunk.length >= CHUNK_CHARS) this.flushChunk(n + 1);
  }

  /** Queues text rendered fresh that is not a kept line (a header, a sample without `lineLabels`). */
  private addText(text: string): void {
    this.flushCopy();
    this.chunk += text;
    if (this.chunk.length >= CHUNK_CHARS) this.flushChunk(this.recorded);
  }

  /** Writes the fresh text, and turns the character offsets of its lines (up to `upTo`) into byte offsets. */
  private flushChunk(upTo: number): void {
    const text = this.chunk;
    if (text === '') return;
    this.chunk = '';
    const base = this.length;
    this.writeString(text);
    const { starts, ends } = this.lines;
    if (this.length - base === text.length) {
      // ASCII only (anything else takes more bytes than characters): offsets are bytes.
      for (let i = this.chunkFrom; i < upTo; i++) {
        starts[i] += base;
        ends[i] += base;
      }
    } else {
      let chars = 0;
      let bytes = base;
      for (let i = this.chunkFrom; i < upTo; i++) {
        bytes += Buffer.byteLength(text.slice(chars, starts[i]));
        const lineBytes = Buffer.byteLength(text.slice(starts[i], ends[i]));
        chars = ends[i];
        starts[i] = bytes;
        ends[i] = bytes += lineBytes;
      }
    }
    this.chunkFrom = upTo;
  }

  /** Records the pending copy of the previous output (only a render over one has copies). */
  private flushCopy(): void {
    const bytes = this.copyEnd - this.copyStart;
    if (bytes === 0) return;
    if (this.copyStart < this.lastCopyEnd) this.copiesInOrder = false;
    this.lastCopyEnd = this.copyEnd;
    this.record(this.copyStart, bytes);
    this.length += bytes;
    this.copyStart = this.copyEnd = 0;
  }

  private writeString(text: string): void {
    if (this.previous !== null) {
      const bytes = this.textRoom(text.length * 3).write(text, this.textLength, 'utf8');
      this.record(-1 - this.textLength, bytes);
      this.textLength += bytes;
      this.length += bytes;
      return;
    }
    // At most 3 bytes per UTF-16 unit; ASCII text needs exactly its length.
    this.reserve(text.length * 3);
    this.length += this.out.write(text, this.length, 'utf8');
  }

  unchanged(from: number, end: number): boolean {
    if (this.allChanged) return false;
    // The first changed range that ends after `from`: the bytes are the same if it starts at or after `end`.
    const changed = this.changed;
    let lo = 0;
    let hi = this.changedPairs;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (changed[2 * mid + 1] <= from) lo = mid + 1;
      else hi = mid;
    }
    return lo === this.changedPairs || changed[2 * lo] >= end;
  }

  /** Notes bytes [at, at + bytes) of the output made in place as changed (called in output order). */
  private noteChanged(at: number, bytes: number): void {
    const n = this.changedPairs;
    // Touching or inside the last range (an overlay within a copy that moved): one range.
    if (n > 0 && this.changed[2 * n - 1] >= at) {
      if (at + bytes > this.changed[2 * n - 1]) this.changed[2 * n - 1] = at + bytes;
      return;
    }
    if (2 * n === this.changed.length) this.changed = doubled(this.changed);
    this.changed[2 * n] = at;
    this.changed[2 * n + 1] = at + bytes;
    this.changedPairs = n + 1;
  }

  /** The buffer of new text, with room for `bytes` more. */
  private textRoom(bytes: number): Buffer {
    if (this.textLength + bytes > this.text.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(this.text.length * 2, this.textLength + bytes));
      this.text.copy(bigger, 0, 0, this.textLength);
      this.text = bigger;
    }
    return this.text;
  }

  /** Records an overlay: `bytes` of `text` from `from`, written at `at` of the output after the ops. */
  private overlay(at: number, from: number, bytes: number): void {
    const i = this.overlays++;
    if (i === this.overlayAt.length) {
      this.overlayAt = doubled(this.overlayAt);
      this.overlayFrom = doubled(this.overlayFrom);
      this.overlayLength = doubled(this.overlayLength);
    }
    this.overlayAt[i] = at;
    this.overlayFrom[i] = from;
    this.overlayLength[i] = bytes;
  }

  /** Records an op: `bytes` at the output's current end, from `from` (see `opFrom`). */
  private record(from: number, bytes: number): void {
    const i = this.ops++;
    if (i === this.opAt.length) {
      this.opAt = doubled(this.opAt);
      this.opFrom = doubled(this.opFrom);
      this.opLength = doubled(this.opLength);
    }
    this.opAt[i] = this.length;
    this.opFrom[i] = from;
    this.opLength[i] = bytes;
  }

  /**
   * Makes the recorded output: in the previous output's own buffer when it fits there and
   * the copies read it in order, else in a new buffer (with room to grow) from it.
   */
  private make(previous: Buffer): Buffer {
    const ops = this.ops;
    let out = previous;
    if (!this.copiesInOrder || this.length > previous.length) {
      out = Buffer.allocUnsafeSlow(this.length + (this.length >> 4) + 4096);
      for (let i = 0; i < ops; i++) this.apply(previous, out, i);
      for (let o = 0; o < this.overlays; o++) this.writeOverlay(out, o, false);
    } else {
      this.allChanged = false;
      this.applyInPlace(previous);
      this.noteInPlace(previous);
    }
    this.ops = 0;
    this.overlays = 0;
    this.textLength = 0;
    if (this.text.length > KEPT_TEXT_BYTES) this.text = Buffer.allocUnsafeSlow(64 * 1024);
    return out;
  }

  /**
   * Does the ops in `previous` itself. Copies read the previous bytes in order and write
   * in order, so a copy that moves bytes left (or not at all) only overwrites bytes already
   * copied: it is done at once. One that moves them right would overwrite bytes a later op
   * has not copied yet: the ops from it up to the next copy that moves left (text ops
   * among them) are done last to first, each then overwriting only bytes already copied.
   * (A method of its own, as `noteInPlace`: a small function is optimized after fewer
   * runs of its loop, and the first render with many ops runs it.)
   */
  private applyInPlace(previous: Buffer): void {
    const ops = this.ops;
    if (this.opChanged.length < ops) this.opChanged = new Uint8Array(this.opAt.length);
    const { opChanged: changed, opFrom, opAt } = this;
    let waiting = -1; // the first op of the ops not done yet
    for (let i = 0; i < ops; i++) {
      const from = opFrom[i];
      if (from >= 0 && opAt[i] <= from) {
        if (waiting >= 0) for (let j = i - 1; j >= waiting; j--) changed[j] = this.apply(previous, previous, j) ? 1 : 0;
        waiting = -1;
        changed[i] = this.apply(previous, previous, i) ? 1 : 0;
      } else if (waiting < 0) {
        waiting = i;
      }
    }
    if (waiting >= 0) for (let j = ops - 1; j >= waiting; j--) changed[j] = this.apply(previous, previous, j) ? 1 : 0;
  }

  /** After `applyInPlace`: writes the overlays (each inside a copy's bytes, all copied by now) and notes the changed ranges in output order, ops and overlays merged. */
  private noteInPlace(out: Buffer): void {
    const { overlayAt, overlayLength, overlays, ops, opAt, opLength, opChanged: changed } = this;
    let o = 0;
    for (let i = 0; i < ops; i++) {
      for (; o < overlays && overlayAt[o] < opAt[i]; o++) if (this.writeOverlay(out, o, true)) this.noteChanged(overlayAt[o], overlayLength[o]);
      if (changed[i] === 1) this.noteChanged(opAt[i], opLength[i]);
    }
    for (; o < overlays; o++) if (this.writeOverlay(out, o, true)) this.noteChanged(overlayAt[o], overlayLength[o]);
  }

  /**
   * Does op `i`: copies from `previous` into `out`, or writes its text. Returns whether its
   * bytes may differ from those at the same offsets before: in place (`out` is `previous`)
   * not for a copy that moves nothing, nor for a text equal to the bytes it replaces (one
   * past the previous output's end, or long, counts as changed, uncompared).
   */
  private apply(previous: Buffer, out: Buffer, i: number): boolean {
    const from = this.opFrom[i];
    const at = this.opAt[i];
    const bytes = this.opLength[i];
    const inPlace = previous === out;
    if (from >= 0) {
      if (!inPlace) previous.copy(out, at, from, from + bytes);
      else if (at === from) return false;
      else out.copyWithin(at, from, from + bytes); // a builtin memmove: no view made per call, as Buffer#copy makes
      return true;
    }
    const text = this.text;
    const start = -1 - from;
    // Short, as values and a family's HELP and TYPE lines are: written byte by byte, each
    // compared with the byte it replaces.
    if (bytes <= COMPARED_TEXT_BYTES) return writeCompared(text, start, bytes, out, at) || !inPlace || at + bytes > this.previousLength;
    text.copy(out, at, start, start + bytes);
    return true;
  }

  /** Writes overlay `o` into `out`; returns whether a byte differs from the one it replaces (always, unless `compare`). */
  private writeOverlay(out: Buffer, o: number, compare: boolean): boolean {
    // Written over the previous output's line already (`rewriteValue`): a changed value, so changed bytes.
    if (this.overlayFrom[o] < 0) return true;
    return writeCompared(this.text, this.overlayFrom[o], this.overlayLength[o], out, this.overlayAt[o]) || !compare;
  }

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.out.length) return;
    const bigger = Buffer.allocUnsafeSlow(Math.max(this.out.length * 2, this.length + bytes));
    this.out.copy(bigger, 0, 0, this.length);
    this.out = bigger;
  }
}

/** About the bytes of a first render: prefixes, values and headers (non-ASCII prefixes take more; the buffer then grows). */
function sizeEstimate(families: readonly Family[]): number {
  let bytes = 4096;
  for (const family of families) {
    bytes += 2 * family.help.length + 4 * family.name.length + 32;
    // By index: it runs once per first render, cold, and an iterator makes an object per step.
    const samples = samplesOf(family);
    for (let i = 0; i < samples.length; i++) {
      const sample = samples[i];
      bytes += (sample.lineLabels !== undefined ? sample.lineName!.length + sample.lineLabels.length : 64) + 24;
    }
  }
  return bytes;
}

/** The sample names of the lines that have an exemplar: each key is a line's prefix, `name{labels} ` or `name `. */
function namesOf(exemplars: ReadonlyMap<string, string>): Set<string> {
  const names = new Set<string>();
  for (const prefix of exemplars.keys()) {
    const brace = prefix.indexOf('{');
    names.add(prefix.slice(0, brace >= 0 ? brace : prefix.indexOf(' ')));
  }
  return names;
}

function sharesName(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  for (const name of small) if (large.has(name)) return true;
  return false;
}

/** Where each family of `table` with kept values is, by its samples array. */
function groupsOf(table: LineTable): Map<readonly Sample[], number> {
  const groups = new Map<readonly Sample[], number>();
  for (let g = 0; g < table.groupSamples.length; g++) {
    const samples = table.groupSamples[g];
    if (samples !== null) groups.set(samples, g);
  }
  return groups;
}

/** Where each line of `table` is, by its name, then its labels (a directory has few sample names). */
function positionsOf(table: LineTable): Map<string, Map<string, number>> {
  const positions = new Map<string, Map<string, number>>();
  for (let i = 0; i < table.count; i++) {
    const name = table.names[i];
    let byLabels = positions.get(name);
    if (byLabels === undefined) positions.set(name, (byLabels = new Map()));
    byLabels.set(table.labels[i], i);
  }
  return positions;
}

/** Writes `bytes` bytes of `text` from `from` at `at` of `out`, byte by byte; returns whether any differed from the byte it replaced. */
function writeCompared(text: Buffer, from: number, bytes: number, out: Buffer, at: number): boolean {
  let differs = false;
  for (let k = 0; k < bytes; k++) {
    const c = text[from + k];
    if (out[at + k] !== c) {
      out[at + k] = c;
      differs = true;
    }
  }
  return differs;
}

/** Where the value of the line [start, end) of `output` starts: after the prefix's last space (a value has none; a label value may). */
function valueStart(output: Buffer, start: number, end: number): number {
  let at = end - 1;
  while (at > start && output[at - 1] !== 0x20) at--;
  return at;
}

/**
 * A whole number in Python's plain range (counts, buckets): written as its digits and
 * ".0" (floatToGoString's `${x}.0`) by `writeValue`, without a string made per value.
 */
const plainWhole = (value: number): boolean => {
  const magnitude = value < 0 ? -value : value;
  return (magnitude | 0) === magnitude && magnitude >= 1 && magnitude < 1e6;
};

/** The bytes of a `plainWhole` value as the exposition shows it. */
function wholeBytes(value: number): number {
  const magnitude = value < 0 ? -value : value;
  const digits = magnitude < 1e3 ? (magnitude < 10 ? 1 : magnitude < 100 ? 2 : 3) : magnitude < 1e4 ? 4 : magnitude < 1e5 ? 5 : 6;
  return (value < 0 ? 3 : 2) + digits;
}

/** Writes a value at `at` of `into`: `text` (ASCII: floatToGoString's), or a `plainWhole` value's digits and ".0". */
function writeValue(into: Buffer, at: number, value: number, text: string | undefined): void {
  if (text !== undefined) {
    for (let i = 0; i < text.length; i++) into[at + i] = text.charCodeAt(i);
    return;
  }
  let whole = value | 0;
  if (whole < 0) {
    into[at++] = 0x2d;
    whole = -whole;
  }
  let i = at + wholeBytes(whole) - 3;
  into[i + 1] = 0x2e;
  into[i + 2] = 0x30;
  for (; i >= at; i--, whole = (whole / 10) | 0) into[i] = 0x30 + (whole % 10);
}

/** `a`'s values in an array twice its length (the op and overlay tables grow by doubling). */
function doubled(a: Int32Array): Int32Array<ArrayBuffer> {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}
