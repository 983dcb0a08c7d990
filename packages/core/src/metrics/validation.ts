// Name and label checks, with prom-client 15's error messages.
import { format, inspect } from 'node:util';
import { processState } from '../process-state.js';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export type LabelValue = string | number;
export type LabelValues<T extends string = string> = Partial<Record<T, LabelValue>>;

// The same switch for both builds of this package when a process loads both.
const nameRules = processState('names', () => ({ utf8: false }));

/**
 * Accepts any non-empty UTF-8 metric and label name, as Prometheus 3 and Python's client
 * (legacy validation off) do; the exposition escapes them to underscores. Off by
 * default, which keeps prom-client's stricter rules.
 */
export function allowUtf8Names(allow = true): void {
  nameRules.utf8 = allow;
}

const isUtf8Name = (name: unknown) => typeof name === 'string' && name.length > 0 && name.isWellFormed();

export function validateMetricName(name: string): boolean {
  return nameRules.utf8 ? isUtf8Name(name) : METRIC_NAME.test(name);
}

export function validateLabelName(names: readonly string[] = []): boolean {
  return names.every((name) => (nameRules.utf8 ? isUtf8Name(name) : LABEL_NAME.test(name)));
}

export function unknownLabelError(label: string, labelNames: readonly string[]): Error {
  return new Error(`Added label "${label}" is not included in initial labelset: ${inspect(labelNames)}`);
}

export function validateLabel(labelNames: readonly string[], labels: object): void {
  for (const label in labels) {
    if (!labelNames.includes(label)) throw unknownLabelError(label, labelNames);
  }
}

/** Labels from `labels(...)` arguments: one object, or one value per label name in order. */
export function labelsFromArgs<T extends string>(labelNames: readonly T[], args: unknown[]): LabelValues<T> {
  if (args[0] !== null && typeof args[0] === 'object') return args[0] as LabelValues<T>;
  if (labelNames.length !== args.length) {
    throw new Error(
      `Invalid number of arguments (${args.length}): "${args.join(', ')}" for label names (${labelNames.length}): "${labelNames.join(', ')}".`,
    );
  }
  const labels: LabelValues<T> = {};
  for (let i = 0; i < labelNames.length; i++) labels[labelNames[i]] = args[i] as LabelValue;
  return labels;
}

export function invalidNumber(value: unknown, what = 'Value'): TypeError {
  return new TypeError(`${what} is not a valid number: ${format(value)}`);
}
