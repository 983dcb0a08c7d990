// Exemplars: the trace behind a counter increment or a histogram bucket, with prom-client
// 15's shape (`{ labelSet, value, timestamp }`) and its size check. In multiprocess mode the
// latest one per series or bucket also goes to this process's exemplar file
// (format/exemplar-file.ts), from where the collector serves the newest of all processes.
import type { LabelValues } from './validation.js';

/** prom-client's exemplar object: what `get()` returns and the registry renders. */
export interface Exemplar {
  labelSet: LabelValues<string>;
  value: number;
  /** Seconds since the epoch, as prom-client takes it (`Date.now() / 1000`). */
  timestamp: number;
}

/** The OpenMetrics limit, counted as prom-client counts it: the names and values joined, in JavaScript characters. */
export const EXEMPLAR_LABEL_SET_LIMIT = 128;

// Prometheus parses exemplar label names with the classic rule, whatever the metric names allow.
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Throws prom-client's errors for a label set it would refuse (its RangeError over the
 * limit), and ours for what it would write but Prometheus refuses (a bad name, a value
 * that is neither a string nor a number). Called before anything is updated, so a bad
 * call changes nothing. Allocates nothing for string values.
 */
// The name checked last: exemplar label names repeat (`trace_id`), so most calls skip the regex.
let lastGoodName = '';

export function checkExemplarLabels(labelSet: unknown): asserts labelSet is LabelValues<string> {
  if (labelSet === null || typeof labelSet !== 'object') {
    throw new TypeError(`Exemplar labels must be an object of label names to values, got ${labelSet === null ? 'null' : typeof labelSet}`);
  }
  let length = 0;
  for (const name in labelSet) {
    if (name !== lastGoodName) {
      if (!LABEL_NAME.test(name)) throw new Error(`Invalid exemplar label name: "${name}"`);
      lastGoodName = name;
    }
    const value = (labelSet as Record<string, unknown>)[name];
    if (typeof value === 'string') length += name.length + value.length;
    else if (typeof value === 'number') length += name.length + String(value).length;
    else throw new TypeError(`Exemplar label "${name}" must be a string or a number, got ${value === null ? 'null' : typeof value}`);
  }
  if (length > EXEMPLAR_LABEL_SET_LIMIT) throw new RangeError('Label set size must be smaller than 128 UTF-8 chars');
}

/** True when a label set has no label (prom-client's histogram keeps no exemplar then). */
export function isEmptyLabelSet(labelSet: object): boolean {
  for (const _ in labelSet) return false;
  return true;
}

/**
 * The exemplar being recorded: [value, timestamp]. Passed through this array, not as
 * arguments: a fractional number given to a call V8 does not inline is boxed (16 bytes a
 * call), and the hot path allocates nothing.
 */
export const exemplarNumbers = new Float64Array(2);

/**
 * Sets `exemplar` to the new label set and `exemplarNumbers`, stamping the time (prom-client's
 * `Date.now() / 1000`); creates it on first use. The label set is kept by reference, as in
 * prom-client (no copy per update).
 */
export function updateExemplar(exemplar: Exemplar | null | undefined, labelSet: LabelValues<string>): Exemplar {
  exemplarNumbers[1] = Date.now() / 1000;
  if (!exemplar) return { labelSet, value: exemplarNumbers[0], timestamp: exemplarNumbers[1] };
  exemplar.labelSet = labelSet;
  exemplar.value = exemplarNumbers[0];
  exemplar.timestamp = exemplarNumbers[1];
  return exemplar;
}
