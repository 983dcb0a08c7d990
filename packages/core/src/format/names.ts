// File names in the directory (FORMAT.md §3): `<type>_<id>.db`, `gauge_<mode>_<id>.db`.

export const METRIC_TYPES = ['counter', 'gauge', 'histogram', 'summary'] as const;
export type MetricType = (typeof METRIC_TYPES)[number];

export const GAUGE_MODES = [
  'all', 'liveall', 'min', 'livemin', 'max', 'livemax', 'sum', 'livesum', 'mostrecent', 'livemostrecent',
] as const;
export type GaugeMode = (typeof GAUGE_MODES)[number];

export function isGaugeMode(mode: unknown): mode is GaugeMode {
  return typeof mode === 'string' && (GAUGE_MODES as readonly string[]).includes(mode);
}

/** Modes whose files belong to a live process only and are deleted when it dies. */
export function isLiveMode(mode: GaugeMode): boolean {
  return mode.startsWith('live');
}

/** A process id may not contain `_`: Python's reader splits file names on it. */
export function checkProcessId(id: string): string {
  if (id === '' || !/^[A-Za-z0-9.-]+$/.test(id)) {
    throw new Error(`Invalid process id "${id}": use letters, digits, "." or "-" (no "_", which file names use as separator)`);
  }
  return id;
}

export function dbFileName(type: MetricType, id: string, mode?: GaugeMode): string {
  if (type === 'gauge') return `gauge_${mode ?? 'all'}_${id}.db`;
  return `${type}_${id}.db`;
}

export interface ParsedFileName {
  type: MetricType;
  mode?: GaugeMode;
  id: string;
}

/** Parses a metrics file name, or returns null for a name that is not one. */
export function parseDbFileName(name: string): ParsedFileName | null {
  if (!name.endsWith('.db') || name.startsWith('.')) return null;
  const parts = name.slice(0, -3).split('_');
  const type = parts[0] as MetricType;
  if (type === 'gauge') {
    const id = parts.slice(2).join('_');
    if (!isGaugeMode(parts[1]) || id === '') return null;
    return { type, mode: parts[1], id };
  }
  const id = parts.slice(1).join('_');
  if (!(METRIC_TYPES as readonly string[]).includes(type) || id === '') return null;
  return { type, id };
}

/**
 * A process writing in fallback mode (no mmap binary) says so with an empty file of this
 * name beside its metrics files: a dot-file, which Python's collector and our merge skip.
 */
export const FALLBACK_MARKER_PREFIX = '.prom-multiproc-fallback-';

export function fallbackMarkerName(id: string): string {
  return FALLBACK_MARKER_PREFIX + id;
}

/**
 * True for the names our writers and compactor create (and Python's with pid ids):
 * `<type>_<id>.db` / `gauge_<mode>_<id>.db` with an id of letters, digits, `.` and `-`.
 * Only such files are ever deleted or renamed by us (`app.db`, `sessions.sqlite.db` are not).
 */
export function isOwnMetricsFileName(name: string): boolean {
  const parsed = parseDbFileName(name);
  return parsed !== null && /^[A-Za-z0-9.-]+$/.test(parsed.id);
}

/** Id of the archive files that hold the folded values of dead processes. */
export const ARCHIVE_ID = 'archive';

/** Id given to files a new process found under its own id (PID reuse): always dead. */
export function retiredProcessId(id: string): string {
  return `${id}dead${Date.now()}`;
}

export function isRetiredProcessId(id: string): boolean {
  return /^\d+(t\d+)?(-\d+)?dead\d+$/.test(id);
}

/**
 * A process id unique beyond the pid, for a process whose plain id is taken: by a live
 * process with the same pid in another PID namespace (containers sharing the directory),
 * or by files of an earlier process that this one may not rename (another user's, in a
 * sticky directory). Digits only after the `-`, so `<id>dead<ms>` stays unambiguous.
 */
export function freshProcessId(id: string): string {
  return `${id}-${Math.floor(Math.random() * 1e9)}`;
}

/**
 * The liveness socket of a process id: a Unix socket the writer listens on for its whole
 * life. The kernel answers a connect while the process lives (even with a blocked event
 * loop, from the listen backlog) and refuses it once the process is gone, whichever PID
 * namespace either side is in. A dot-file: Python's collector ignores it.
 */
export function livenessSocketName(id: string): string {
  return `.prom-multiproc-live.${id}.sock`;
}

export const LIVENESS_SOCKET = /^\.prom-multiproc-live\.(.+)\.sock$/;

/** Longest socket path Linux takes (sun_path is 108 bytes with its NUL); longer paths are not bound. */
export const MAX_SOCKET_PATH_BYTES = 107;

/**
 * Side files: what Python's format cannot express, kept per process beside its `.db`
 * files in the same entry encoding (DESIGN.md "Extending the format"). Their names start
 * with a dot, so Python's collector and our `.db` merge never read them:
 * `.<kind>_<id>.db`. Each kind says how the fold of a dead process treats it (fold.ts).
 */
export const SIDE_FILE_KINDS = ['nativehistogram', 'summarywindow'] as const;
export type SideFileKind = (typeof SIDE_FILE_KINDS)[number];

export function sideFileName(kind: SideFileKind, id: string): string {
  return `.${kind}_${id}.db`;
}

/** Parses a side file name, or returns null for a name that is not one. */
export function parseSideFileName(name: string): { kind: SideFileKind; id: string } | null {
  const match = /^\.([a-z]+)_(.+)\.db$/.exec(name);
  if (!match || !(SIDE_FILE_KINDS as readonly string[]).includes(match[1])) return null;
  return { kind: match[1] as SideFileKind, id: match[2] };
}

/** A side file name of ours (`.<kind>_<id>.db`, id of letters, digits, `.` and `-`): deleted or renamed only by us. */
export function isOwnSideFileName(name: string): boolean {
  const parsed = parseSideFileName(name);
  return parsed !== null && /^[A-Za-z0-9.-]+$/.test(parsed.id);
}
