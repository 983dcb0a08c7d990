// Where series values live (Python's values.py): in memory, or in this process's files
// in the multiprocess directory. Chosen once per process; metric classes are unchanged.
import fs from 'node:fs';
import path from 'node:path';
import { isMainThread, threadId } from 'node:worker_threads';
import type { StorageMode } from '../format/file-memory.js';
import { MappedFile, type SeriesStore } from '../format/mapped-file.js';
import { ExemplarFile, exemplarFileName } from '../format/exemplar-file.js';
import { FILE_MODE } from '../format/modes.js';
import { compareCodePoints } from '../format/key.js';
import {
  checkProcessId, dbFileName, fallbackMarkerName, freshProcessId, parseDbFileName, parseSideFileName, retiredProcessId, sideFileName,
  type GaugeMode, type MetricType, type SideFileKind,
} from '../format/names.js';
import { fallbackNotice, processStorageMode } from '../format/storage-mode.js';
import { listenForLiveness, stopListening } from './liveness-socket.js';
import { validateLabelName } from '../metrics/validation.js';
import { MemoryStore } from './memory-store.js';
import { processState } from '../process-state.js';

/** Constant label pairs, sorted by name, that a process adds to every series it writes. */
export type ProcessLabels = ReadonlyArray<readonly [string, string]>;

export interface Storage {
  /** The directory written to, or undefined for in-memory storage. */
  readonly directory: string | undefined;
  readonly processId: string | undefined;
  /** How files are written: `mmap`, or `fallback` where no mmap binary loads; undefined in memory. */
  readonly mode: StorageMode | undefined;
  /**
   * Labels added to every series this process creates (a metric's own label of the same
   * name wins). They are part of each entry's key, so they survive the fold of a dead
   * process into the archives. Empty unless configured, or under PM2 (`pm2ProcessLabels`).
   */
  readonly labels: ProcessLabels;
  storeFor(type: MetricType, mode?: GaugeMode): SeriesStore;
  /** This process's exemplar file, created on first use; undefined in memory. */
  exemplarFile(): ExemplarFile | undefined;
  /** The store of a side file (`sideFileName`): one per process and kind; in memory, one per call. */
  sideStoreFor(kind: SideFileKind): SeriesStore;
}

const RESERVED_LABELS = new Set(['le', 'quantile', 'pid']);

/** Checks and sorts process labels; `le`, `quantile` and `pid` are the merge's own. */
function processLabels(labels: Record<string, string | number> = {}): ProcessLabels {
  const pairs = Object.entries(labels).map(([name, value]) => [name, String(value)] as const);
  for (const [name] of pairs) {
    if (!validateLabelName([name]) || RESERVED_LABELS.has(name)) throw new Error(`Invalid process label name: "${name}"`);
  }
  for (const [name, value] of pairs) {
    if (!value.isWellFormed()) throw new Error(`Invalid value of process label "${name}": a lone surrogate has no UTF-8 form`);
  }
  return Object.freeze(pairs.sort((p, q) => compareCodePoints(p[0], q[0])));
}

/** The labels a PM2 worker writes (see `pm2ProcessLabels`). */
export const PM2_APP_LABEL = 'pm2_app';
export const PM2_INSTANCE_LABEL = 'pm2_instance';

/**
 * The labels a process started by PM2 writes: `pm2_app` (the PM2 app name) and
 * `pm2_instance` (its NODE_APP_INSTANCE, stable across restarts and reloads of that slot),
 * so one directory shared by several PM2 apps keeps them apart. Not `app`/`instance`:
 * Prometheus attaches `instance` (and often `app`, from service discovery) to every
 * scraped series and renames a clashing one to `exported_instance`.
 * `PROM_MULTIPROC_PM2_LABELS` chooses: unset or `pm2_app,pm2_instance`, `pm2_app`, or
 * `none`. Empty outside PM2.
 */
export function pm2ProcessLabels(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  if (env.pm_id === undefined || !env.pm_exec_path || !env.name) return {};
  const wanted = (env.PROM_MULTIPROC_PM2_LABELS ?? `${PM2_APP_LABEL},${PM2_INSTANCE_LABEL}`).split(',').map((s) => s.trim());
  const unknown = wanted.filter((w) => w !== PM2_APP_LABEL && w !== PM2_INSTANCE_LABEL && w !== 'none');
  if (unknown.length > 0) {
    console.warn(`prom-multiproc: PROM_MULTIPROC_PM2_LABELS=${env.PROM_MULTIPROC_PM2_LABELS}: ${unknown.join(', ')} ignored (use ${PM2_APP_LABEL},${PM2_INSTANCE_LABEL}, ${PM2_APP_LABEL} or none)`);
  }
  const labels: Record<string, string> = {};
  if (wanted.includes(PM2_APP_LABEL)) labels[PM2_APP_LABEL] = env.name;
  const instance = env[env.instance_var || 'NODE_APP_INSTANCE'];
  if (wanted.includes(PM2_INSTANCE_LABEL) && instance !== undefined && instance !== '') labels[PM2_INSTANCE_LABEL] = instance;
  return labels;
}

/** The multiprocess directory named by the environment, if any. */
export function multiprocessDirFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.PROMETHEUS_MULTIPROC_DIR || env.prometheus_multiproc_dir || undefined;
}

/** The pid for the main thread; `<pid>t<threadId>` for a worker thread, which gets files of its own. */
export function defaultProcessId(): string {
  return isMainThread ? String(process.pid) : `${process.pid}t${threadId}`;
}

/**
 * Values in memory. Every metric object gets a store of its own, so it owns its values as
 * in prom-client: one created again after `register.clear()` starts at zero, and two
 * registries' metrics of the same name are separate series.
 */
class InMemoryStorage implements Storage {
  readonly directory = undefined;
  readonly processId = undefined;
  readonly mode = undefined;

  constructor(readonly labels: ProcessLabels = []) {}

  storeFor(): SeriesStore {
    return new MemoryStore();
  }

  exemplarFile(): undefined {
    return undefined;
  }

  sideStoreFor(): SeriesStore {
    return new MemoryStore();
  }
}

// One storage and one set of own files per process, even with both builds loaded: never
// two writers on one file.
const state = processState('storage', () => ({
  current: undefined as Storage | undefined,
  ownFiles: new Set<string>(),
  /** Directories this process has said it writes in fallback mode to (the notice is logged once). */
  markedDirectories: new Set<string>(),
  /** Exemplar file per path: opened once per process, so a second storage on it continues it. */
  exemplarFiles: new Map<string, ExemplarFile>(),
}));

/** Files this process has created or continued: never handed over as a dead process's. */
const { ownFiles, markedDirectories } = state;

class DirectoryStorage implements Storage {
  private readonly files = new Map<string, MappedFile>();
  readonly mode: StorageMode;
  readonly processId: string;

  /** `processId` given: used as is (the caller's choice). Omitted: this process's own id, claimed (`claimProcessId`). */
  constructor(readonly directory: string, processId: string | undefined, readonly labels: ProcessLabels = []) {
    if (processId !== undefined) checkProcessId(processId);
    checkWritableDirectory(directory);
    this.mode = processStorageMode().mode;
    this.processId = processId ?? claimProcessId(directory, defaultProcessId());
  }

  storeFor(type: MetricType, mode?: GaugeMode): SeriesStore {
    return this.fileStore(dbFileName(type, this.processId, mode), (id) => dbFileName(type, id, mode));
  }

  sideStoreFor(kind: SideFileKind): SeriesStore {
    return this.fileStore(sideFileName(kind, this.processId), (id) => sideFileName(kind, id));
  }

  /** The open file `name`; `nameFor(id)` is its name under another process id (PID reuse). */
  private fileStore(name: string, nameFor: (id: string) => string): SeriesStore {
    let file = this.files.get(name);
    if (!file) {
      const filePath = path.join(this.directory, name);
      if (!ownFiles.has(filePath)) {
        try {
          handOverLeftover(this.directory, name, nameFor(retiredProcessId(this.processId)));
        } catch (err) {
          throw new Error(`prom-multiproc: ${filePath} was left by an earlier process with id ${this.processId} and cannot be handed over (${(err as NodeJS.ErrnoException).code}); choose another processId`, { cause: err });
        }
      }
      ownFiles.add(filePath);
      this.files.set(name, (file = MappedFile.open(filePath, this.mode)));
      if (this.files.size === 1) this.markMode();
    }
    return file;
  }

  exemplarFile(): ExemplarFile {
    const filePath = path.join(this.directory, exemplarFileName(this.processId));
    let file = state.exemplarFiles.get(filePath);
    if (!file) state.exemplarFiles.set(filePath, (file = ExemplarFile.create(filePath, this.mode)));
    return file;
  }

  /** A marker file says this process writes in fallback mode; an earlier process's marker under our id goes. */
  private markMode(): void {
    const marker = path.join(this.directory, fallbackMarkerName(this.processId));
    if (this.mode === 'mmap') {
      fs.rmSync(marker, { force: true });
      return;
    }
    fs.writeFileSync(marker, '', { mode: FILE_MODE });
    if (markedDirectories.size === 0) console.warn(fallbackNotice(this.directory, processStorageMode()));
    markedDirectories.add(this.directory);
  }
}

/**
 * The id this process writes under: its pid (`defaultProcessId`) when that is free, or a
 * fresh one (`freshProcessId`) when a process with the same pid in another PID namespace
 * holds it (its liveness socket exists), or when files an earlier process left under it
 * cannot be handed over (another user's files in a sticky directory: EPERM on rename).
 * The liveness socket is bound before any file is written, so a collector never sees a
 * file of ours without it.
 */
function claimProcessId(directory: string, base: string): string {
  let id = base;
  for (let attempt = 0; attempt < 5; attempt++) {
    if (listenForLiveness(directory, id) === 'taken') {
      id = freshProcessId(base);
      continue;
    }
    if (handOverLeftovers(directory, id)) return id;
    stopListening(directory, id);
    id = freshProcessId(base);
  }
  throw new Error(`prom-multiproc: could not claim a process id in ${directory} (tried ${base} and fresh ids)`);
}

/**
 * Hands every file under `id` that this process did not write to the collector as a
 * dead process's (`handOverLeftover`). False if one may not be renamed by us.
 */
function handOverLeftovers(directory: string, id: string): boolean {
  for (const name of fs.readdirSync(directory)) {
    // Metrics files and side files alike.
    const parsed = parseDbFileName(name);
    const side = parsed ? null : parseSideFileName(name);
    if ((parsed?.id ?? side?.id) !== id || ownFiles.has(path.join(directory, name))) continue;
    const retired = retiredProcessId(id);
    try {
      handOverLeftover(directory, name, parsed ? dbFileName(parsed.type, retired, parsed.mode) : sideFileName(side!.kind, retired));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EPERM' || code === 'EACCES') return false;
      throw err;
    }
  }
  return true;
}

/**
 * A file under our own id that this process did not create belongs to an earlier process
 * with the same id (PID reuse). One writer per file: rename it to an id that says "dead"
 * (atomic, so its values stay in every merge) and let the collector fold it.
 */
function handOverLeftover(directory: string, name: string, retiredName: string): void {
  try {
    fs.renameSync(path.join(directory, name), path.join(directory, retiredName));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Throws an error naming the problem if `dir` is missing, not a directory, or not writable. */
export function checkWritableDirectory(dir: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch (err) {
    throw new Error(`prom-multiproc: multiprocess directory ${dir} does not exist (${(err as NodeJS.ErrnoException).code}); create it before starting the processes`);
  }
  if (!stat.isDirectory()) throw new Error(`prom-multiproc: multiprocess directory ${dir} is not a directory`);
  try {
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (err) {
    throw new Error(`prom-multiproc: multiprocess directory ${dir} is not writable by this process (${(err as NodeJS.ErrnoException).code})`);
  }
}

/** The storage of this process if a metric (or a call) has chosen it yet, without choosing. */
export function currentStorageIfChosen(): Storage | undefined {
  return state.current;
}

/**
 * The storage of this process: decided on first use from PROMETHEUS_MULTIPROC_DIR; a
 * process started by PM2 labels its series with its app and slot (`pm2ProcessLabels`).
 */
export function currentStorage(): Storage {
  if (!state.current) {
    const dir = multiprocessDirFromEnv();
    state.current = dir
      ? new DirectoryStorage(path.resolve(dir), undefined, processLabels(pm2ProcessLabels()))
      : new InMemoryStorage();
  }
  return state.current;
}

export interface StorageOptions {
  /** The multiprocess directory; without it, values live in memory. */
  directory?: string;
  /**
   * This process's id in file names; must not contain `_`. Default: the pid (`<pid>t<thread>`
   * in a worker thread), or a fresh `<pid>-<digits>` when that is taken (see `claimProcessId`).
   * A given id is used as is, with no liveness socket: liveness is then kill(pid, 0) of a numeric id.
   */
  processId?: string;
  /** Labels added to every series this process creates (see `Storage.labels`). Default: none. */
  labels?: Record<string, string | number>;
}

/** Chooses the storage explicitly, before any metric is created. */
export function configureStorage(options: StorageOptions = {}): Storage {
  const labels = processLabels(options.labels);
  state.current = options.directory
    ? new DirectoryStorage(path.resolve(options.directory), options.processId, labels)
    : new InMemoryStorage(labels);
  return state.current;
}
