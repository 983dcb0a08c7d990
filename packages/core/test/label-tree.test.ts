// The label tree ends a path early at its series when no other path shares it, and moves
// that leaf down when one does. Checked against a plain map of every path added: each
// added path (raw values, or the series' canonical strings) finds its series, and a path
// never added finds nothing (the caller then resolves it the slow way).
import { describe, expect, it } from 'vitest';
import { LabelTree } from '../src/metrics/label-tree.js';
import { seededRandom } from './helpers/seeded-random.js';

const NAMES = ['a', 'b', 'c', 'd'];
const POOL: unknown[] = ['x', 'y', '1', 1, '', undefined, NaN, 'NaN', 0, '0', -0];

interface TestLeaf { labels: Record<string, string>; id: number }

function canonical(raw: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of NAMES) if (raw[name] !== undefined) out[name] = String(raw[name]);
  return out;
}
const pathKey = (labels: Record<string, unknown>) => JSON.stringify(NAMES.map((n) => {
  const v = labels[n];
  return v === undefined ? 'u' : typeof v === 'number' ? `n${Object.is(v, -0) ? 0 : v}` : `s${String(v)}`;
}));

describe('LabelTree', () => {
  it('finds every added path (raw and canonical) and no other, through early leaves moved down', () => {
    for (let round = 0; round < 20; round++) {
      const next = seededRandom(0x1234567 + round);
      const pick = () => POOL[Math.floor(next() * POOL.length)];
      // Few values at the top, many below (like method/route/status), so leaves end early and move.
      const rawPath = (): Record<string, unknown> => ({ a: pick(), b: `r${Math.floor(next() * 40)}`, c: pick(), d: next() < 0.5 ? pick() : 'z' });
      const tree = new LabelTree<TestLeaf>();
      const added = new Map<string, TestLeaf>();
      const leaves = new Map<string, TestLeaf>();
      for (let i = 0; i < 300; i++) {
        const raw = rawPath();
        const labels = canonical(raw);
        const id = JSON.stringify(labels);
        let leaf = leaves.get(id);
        if (!leaf) {
          leaf = { labels, id: leaves.size };
          leaves.set(id, leaf);
          tree.add(labels, NAMES, leaf);
          added.set(pathKey(labels), leaf);
        }
        tree.add(raw, NAMES, leaf);
        added.set(pathKey(raw), leaf);
        // Everything added so far is still found (a move keeps every earlier path).
        if (i % 30 === 0) for (const [key, want] of added) expect(tree.find(rebuild(key), NAMES), key).toBe(want);
      }
      for (const [key, want] of added) expect(tree.find(rebuild(key), NAMES), key).toBe(want);
      for (let i = 0; i < 500; i++) {
        const raw = rawPath();
        expect(tree.find(raw, NAMES)).toBe(added.get(pathKey(raw)));
      }
    }
  });

  it('takes NaN and undefined as values, and a one-level tree', () => {
    const tree = new LabelTree<TestLeaf>();
    const nan = { labels: { a: 'NaN' }, id: 1 };
    tree.add({ a: NaN }, ['a'], nan);
    expect(tree.find({ a: NaN }, ['a'])).toBe(nan);
    expect(tree.find({ a: 'NaN' }, ['a'])).toBeUndefined();
    const none = { labels: {}, id: 2 };
    tree.add({}, ['a'], none);
    expect(tree.find({}, ['a'])).toBe(none);
    expect(tree.find({ a: NaN }, ['a'])).toBe(nan);
  });
});

/** The labels a path key stands for. */
function rebuild(key: string): Record<string, unknown> {
  const parts = JSON.parse(key) as string[];
  const labels: Record<string, unknown> = {};
  parts.forEach((p, i) => {
    if (p === 'u') return;
    labels[NAMES[i]] = p[0] === 'n' ? Number(p.slice(1)) : p.slice(1);
  });
  return labels;
}
