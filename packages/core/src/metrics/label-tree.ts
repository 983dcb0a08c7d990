// The hot path's cache from raw label values to a series: one level per label name, in
// `labelNames` order. A level keeps its first value inline and only the others in a Map,
// and a path that only one series takes ends early, at the series itself: under a label
// with a distinct value per series (a route, an id), a Map of one entry per series would
// cost ~300 bytes and a level 48; an early leaf costs nothing.

/** What the tree leads to: a series, whose canonical labels (strings) confirm an early leaf. */
export interface Leaf {
  readonly labels: Readonly<Record<string, string>>;
}

/** No value here yet (never a label value: values are strings or numbers, or undefined). */
const EMPTY = Symbol('empty');

class Level {
  value: unknown = EMPTY;
  child: Level | Leaf | undefined = undefined;
  more: Map<unknown, Level | Leaf> | null = null;

  get(value: unknown): Level | Leaf | undefined {
    return this.value === value ? this.child : this.more === null ? undefined : this.more.get(value);
  }

  set(value: unknown, next: Level | Leaf): void {
    if (this.value === value) {
      this.child = next;
    } else if (this.value === EMPTY && value === value) {
      // NaN is never equal to itself: it goes to the Map, which finds it (SameValueZero).
      this.value = value;
      this.child = next;
    } else {
      (this.more ??= new Map()).set(value, next);
    }
  }
}

export class LabelTree<T extends Leaf> {
  private readonly root = new Level();

  /** The leaf for `labels[names[0]], labels[names[1]], ...`, or undefined. No allocation. */
  find(labels: Readonly<Record<string, unknown>>, names: readonly string[]): T | undefined {
    let level = this.root;
    const last = names.length - 1;
    for (let i = 0; ; i++) {
      const next = level.get(labels[names[i]]);
      if (next === undefined) return undefined;
      if (i === last) return next as T;
      if (!(next instanceof Level)) {
        // An early leaf: the rest of the values must be its own.
        const own = next.labels;
        for (let j = i + 1; j <= last; j++) if (labels[names[j]] !== own[names[j]]) return undefined;
        return next as T;
      }
      level = next;
    }
  }

  /**
   * Makes `find(labels, names)` return `leaf`. The path ends early (at the first level no
   * other path takes) only when the rest of `labels` are the leaf's own canonical values.
   */
  add(labels: Readonly<Record<string, unknown>>, names: readonly string[], leaf: T): void {
    let level = this.root;
    const last = names.length - 1;
    for (let i = 0; ; i++) {
      const value = labels[names[i]];
      let next = level.get(value);
      if (i === last) {
        level.set(value, leaf);
        return;
      }
      if (next === undefined) {
        if (sameRest(labels, names, i + 1, leaf)) {
          level.set(value, leaf);
          return;
        }
        next = new Level();
        level.set(value, next);
      } else if (!(next instanceof Level)) {
        // Another path goes through here: the early leaf moves one level down.
        const moved = next;
        next = new Level();
        next.set(moved.labels[names[i + 1]], moved);
        level.set(value, next);
      }
      level = next;
    }
  }
}

function sameRest(labels: Readonly<Record<string, unknown>>, names: readonly string[], from: number, leaf: Leaf): boolean {
  for (let j = from; j < names.length; j++) if (labels[names[j]] !== leaf.labels[names[j]]) return false;
  return true;
}
