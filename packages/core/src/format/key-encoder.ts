// An entry key encoded straight into bytes (the same bytes as `encodeKey` in key.ts:
// Python's json.dumps([metric, sample, labels, help], sort_keys=True), ASCII only), in one
// reused buffer. A worker creates every series' keys once, to write them into its file:
// building them as JS strings made ~20 KB of garbage per histogram series, which kept the
// young generation at its largest size (tens of MB of RSS).
import { compareCodePoints, type LabelPairs } from './key.js';

const PLAIN_ASCII = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
const HEX = '0123456789abcdef';
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** One key's bytes: `bytes[0, length)`. */
export class EncodedKey {
  bytes = Buffer.allocUnsafe(1024);
  length = 0;

  /** The key as text (for a caller that must keep it, e.g. the exemplar file's key). */
  toString(): string {
    return this.bytes.toString('latin1', 0, this.length);
  }

  /** Sets this key to `text`'s UTF-8 bytes (a key built elsewhere, as a string). */
  setText(text: string): this {
    this.reserve(text.length * 3);
    this.length = this.bytes.write(text, 0, 'utf8');
    return this;
  }

  /**
   * Encodes `[metricName, sampleName, {labels}, help]` as Python does. `labels` must be
   * sorted; `extraName`/`extraValue` (a histogram's `le`, say) is one more pair, placed
   * at its sorted position, so callers need not build a new array.
   */
  encode(metricName: string, sampleName: string, labels: LabelPairs, help: string, extraName?: string, extraValue?: string): this {
    // Worst case: every UTF-16 unit becomes a 6-byte \uXXXX escape.
    let bound = 6 * (metricName.length + sampleName.length + help.length) + 16;
    for (let i = 0; i < labels.length; i++) bound += 6 * (labels[i][0].length + labels[i][1].length) + 8;
    if (extraName !== undefined) bound += 6 * (extraName.length + extraValue!.length) + 8;
    this.reserve(bound);
    this.length = 0;
    this.byte(0x5b); // [
    this.string(metricName);
    this.ascii(', ');
    this.string(sampleName);
    this.ascii(', {');
    let first = true;
    let extraDone = extraName === undefined;
    for (let i = 0; i < labels.length; i++) {
      const name = labels[i][0];
      if (!extraDone && compareCodePoints(extraName!, name) < 0) {
        this.pair(extraName!, extraValue!, first);
        first = false;
        extraDone = true;
      }
      this.pair(name, labels[i][1], first);
      first = false;
    }
    if (!extraDone) this.pair(extraName!, extraValue!, first);
    this.ascii('}, ');
    this.string(help);
    this.byte(0x5d); // ]
    return this;
  }

  private reserve(bytes: number): void {
    if (bytes > this.bytes.length) this.bytes = Buffer.allocUnsafe(Math.max(bytes, this.bytes.length * 2));
  }

  private pair(name: string, value: string, first: boolean): void {
    if (!first) this.ascii(', ');
    this.string(name);
    this.ascii(': ');
    this.string(value);
  }

  private byte(b: number): void {
    this.bytes[this.length++] = b;
  }

  /** Text known to be plain ASCII (no escapes needed). */
  private ascii(s: string): void {
    this.length += this.bytes.write(s, this.length, 'latin1');
  }

  /** A JSON string literal as Python writes it with ensure_ascii=True (`pythonJsonString`). */
  private string(s: string): void {
    this.byte(QUOTE);
    if (PLAIN_ASCII.test(s)) {
      if (s.length > 0) this.ascii(s);
    } else {
      for (let i = 0; i < s.length; i++) this.unit(s.charCodeAt(i));
    }
    this.byte(QUOTE);
  }

  private unit(u: number): void {
    switch (u) {
      case QUOTE: this.byte(BACKSLASH); this.byte(QUOTE); return;
      case BACKSLASH: this.byte(BACKSLASH); this.byte(BACKSLASH); return;
      case 0x08: this.byte(BACKSLASH); this.byte(0x62); return; // \b
      case 0x0c: this.byte(BACKSLASH); this.byte(0x66); return; // \f
      case 0x0a: this.byte(BACKSLASH); this.byte(0x6e); return; // \n
      case 0x0d: this.byte(BACKSLASH); this.byte(0x72); return; // \r
      case 0x09: this.byte(BACKSLASH); this.byte(0x74); return; // \t
    }
    if (u >= 0x20 && u <= 0x7e) {
      this.byte(u);
      return;
    }
    // Every other unit, lone surrogates included, as \uXXXX (lower-case hex, as Python).
    this.byte(BACKSLASH);
    this.byte(0x75);
    this.byte(HEX.charCodeAt(u >> 12));
    this.byte(HEX.charCodeAt((u >> 8) & 15));
    this.byte(HEX.charCodeAt((u >> 4) & 15));
    this.byte(HEX.charCodeAt(u & 15));
  }
}

/** The one encoding buffer of this thread: keys are encoded and consumed one at a time. */
export const scratchKey = new EncodedKey();
