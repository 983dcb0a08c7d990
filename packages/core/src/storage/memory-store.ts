// Series values in plain memory, for processes that are not in multiprocess mode.
// Same interface as a mapped file, so metric classes do not know which one they use.
import type { SeriesStore, ValueHolder } from '../format/mapped-file.js';
import type { EncodedKey } from '../format/key-encoder.js';

export class MemoryStore implements SeriesStore {
  values = new Float64Array(64);
  private next = 0;
  private readonly positions = new Map<string, number>();
  private readonly holders = new Set<ValueHolder>();

  slotOf(key: EncodedKey): number {
    return this.slotFor(key.toString());
  }

  slotFor(key: string): number {
    const known = this.positions.get(key);
    if (known !== undefined) return known;
    if (this.next + 2 > this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
      for (const holder of this.holders) holder.values = grown;
    }
    const slot = this.next;
    this.next += 2;
    this.positions.set(key, slot);
    return slot;
  }

  attach(holder: ValueHolder): void {
    holder.values = this.values;
    this.holders.add(holder);
  }

  detach(holder: ValueHolder): void {
    this.holders.delete(holder);
  }
}
