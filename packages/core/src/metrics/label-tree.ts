// The hot path's cache from raw label values to a series: one level per label name, in
// `labelNames` order. A level keeps its first value inline and only the others in a Map:
// under a label with a distinct value per series (a route, an id), every level below it
// has one value, and a Map of one entry costs ~300 bytes where a node costs 48.

/** No value here yet (never a label value: values are strings or numbers, or undefined). */
const EMPTY = Symbol('empty');

class Level {
  value: unknown = EMPTY;
  child: unknown = undefined;
  more: Map<unknown, unknown> | null = null;
}

export class LabelTree {
  private readonly root = new Level();

  /** The leaf for `labels[names[0]], labels[names[1]], ...`, or undefined. No allocation. */
  find(labels: Readonly<Record<string, unknown>>, names: readonly string[]): unknown {
    let level: Level = this.root;
    const last = names.length - 1;
    for (let i = 0; ; i++) {
      const value = labels[names[i]];
      const next = level.value === value ? level.child : level.more === null ? undefined : level.more.get(value);
      if (next === undefined || i === last) return next;
      level = next as Level;
    }
  }

  /** Makes `find(labels, names)` return `leaf`. */
  add(labels: Readonly<Record<string, unknown>>, names: readonly string[], leaf: unknown): void {
    let level: Level = this.root;
    for (let i = 0; i < names.length; i++) {
      const value = labels[names[i]];
      const isLast = i === names.length - 1;
      let next = level.value === value ? level.child : level.more?.get(value);
      if (next === undefined || isLast) {
        next = isLast ? leaf : new Level();
        // NaN is never equal to itself: it goes to the Map, which finds it (SameValueZero).
        if (level.value === EMPTY && value === value) {
          level.value = value;
          level.child = next;
        } else if (level.value === value) {
          level.child = next;
        } else {
          (level.more ??= new Map()).set(value, next);
        }
      }
      level = next as Level;
    }
  }
}
