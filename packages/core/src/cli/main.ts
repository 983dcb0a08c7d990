// The `prom-multiproc` command (bin/prom-multiproc.js calls `main`): `serve` runs the
// collector for any process manager, `dump` prints a merged directory once, `inspect`
// prints one file's entries. Exit codes: 0 success,
// 1 the work failed (a corrupt file to inspect), 2 a usage error (unknown command or
// flag, missing or non-existent --dir or FILE).
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Collector } from '../collect/collector.js';
import { Compactor } from '../collect/compactor.js';
import { renderOpenMetrics, renderText } from '../collect/exposition.js';
import { readDirectoryExemplars } from '../collect/exemplars.js';
import { RefreshScheduler } from '../refresh/schedule.js';
import { startMetricsServer } from '../serve/server.js';
import { loadWebConfig, WebConfigError } from '../serve/web-config.js';
import { DirectoryMerger, type MergeProblem } from '../collect/merge.js';
import { ARCHIVE_ID, fallbackMarkerName, parseDbFileName, parseSideFileName } from '../format/names.js';
import { FLUSH_INTERVAL_MS } from '../format/written-memory.js';
import { floatToGoString } from '../format/number.js';
import { DbFileReader, ReadBuffer } from '../format/reader.js';

export interface CliStreams {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

interface Command {
  summary: string;
  usage: string;
  run(args: string[], io: CliStreams): Promise<number>;
}

/** A mistake in how the command was called: reported with a hint, exit code 2. */
class UsageError extends Error {}

const COMMANDS: Record<string, Command> = {
  dump: {
    summary: 'print the merged exposition of a metrics directory once',
    usage: 'prom-multiproc dump --dir DIR [--openmetrics]',
    run: dump,
  },
  inspect: {
    summary: "print one metrics file's entries",
    usage: 'prom-multiproc inspect FILE [--json]',
    run: inspect,
  },
  serve: {
    summary: 'serve the merged directory on http(s)://HOST:PORT/metrics until stopped',
    usage: 'prom-multiproc serve --dir DIR --port PORT [--host HOST] [--startup fold|clear] [--sweep-seconds N] [--web-config-file FILE]',
    run: serve,
  },
};

const NAME = 'prom-multiproc';

export async function main(argv: string[], io: CliStreams = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined) {
    await write(io.stderr, usage());
    return 2;
  }
  if (name === 'help' || name === '--help' || name === '-h') {
    const topic = args[0] !== undefined ? COMMANDS[args[0]] : undefined;
    await write(io.stdout, topic ? `usage: ${topic.usage}\n` : usage());
    return 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    await write(io.stderr, `${NAME}: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await command.run(args, io);
  } catch (err) {
    if (err instanceof UsageError) {
      await write(io.stderr, `${NAME} ${name}: ${err.message}\nusage: ${command.usage}\n`);
      return 2;
    }
    throw err;
  }
}

function usage(): string {
  const lines = Object.values(COMMANDS).map((c) => `  ${c.usage.padEnd(58)} ${c.summary}`);
  return `usage: ${NAME} <command> [options]\n\ncommands:\n${lines.join('\n')}\n  ${'help [COMMAND]'.padEnd(58)} show this help\n`;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs, strict, with its errors turned into usage errors. `--help` is always accepted. */
function parse<O extends Options>(args: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError((err as Error).message);
    throw err;
  }
}

/** The --dir flag, checked: it must name an existing directory. */
function requireDirectory(dir: string | undefined): string {
  if (dir === undefined || dir === '') throw new UsageError('missing --dir DIR (the metrics directory, e.g. "$PROMETHEUS_MULTIPROC_DIR")');
  const stat = fs.statSync(dir, { throwIfNoEntry: false });
  if (!stat) throw new UsageError(`directory ${dir} does not exist`);
  if (!stat.isDirectory()) throw new UsageError(`${dir} is not a directory`);
  return dir;
}

async function serve(args: string[], io: CliStreams): Promise<number> {
  const { values } = parse(args, {
    dir: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' },
    startup: { type: 'string' }, 'sweep-seconds': { type: 'string' },
    // Prometheus users know the exporters' --web.config.file: both spellings work.
    'web-config-file': { type: 'string' }, 'web.config.file': { type: 'string' },
  });
  if (values.help) return helpFor('serve', io);
  const directory = requireDirectory(values.dir as string | undefined);
  const portText = values.port as string | undefined;
  if (portText === undefined) throw new UsageError('missing --port PORT');
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new UsageError(`--port must be a whole number from 0 to 65535, got "${portText}"`);
  const startup = (values.startup as string | undefined) ?? 'fold';
  if (startup !== 'fold' && startup !== 'clear') throw new UsageError(`--startup must be fold or clear, got "${startup}"`);
  const sweepText = (values['sweep-seconds'] as string | undefined) ?? '10';
  if (!/^\d+(\.\d+)?$/.test(sweepText)) throw new UsageError(`--sweep-seconds must be a number of seconds (0: no sweep), got "${sweepText}"`);
  if (values['web-config-file'] !== undefined && values['web.config.file'] !== undefined) throw new UsageError('give --web-config-file or --web.config.file, not both');
  const webConfigFile = (values['web-config-file'] ?? values['web.config.file']) as string | undefined;
  if (webConfigFile !== undefined) {
    // Checked before anything starts: a bad file is one line naming the field, exit code 2.
    try {
      loadWebConfig(webConfigFile);
    } catch (err) {
      if (!(err instanceof WebConfigError)) throw err;
      await write(io.stderr, `${NAME} serve: ${err.message}\n`);
      return 2;
    }
  }
  const log = (message: string) => void write(io.stderr, `${message}\n`);
  let server;
  let compactor;
  let collector;
  // Processes that mirror prom-client or run `collect` callbacks refresh before a predicted scrape.
  const refresh = new RefreshScheduler(directory);
  try {
    compactor = await Compactor.start(directory, { startup, sweepIntervalMs: Number(sweepText) * 1000, log });
    collector = new Collector({ directory, log, compactor, onScrape: () => refresh.noteScrape() });
    server = await startMetricsServer({ collector, port, host: values.host as string | undefined, log, webConfigFile });
  } catch (err) {
    await compactor?.close();
    await write(io.stderr, `${NAME} serve: ${(err as Error).message}\n`);
    return 1;
  }
  await write(io.stdout, `${NAME}: serving ${directory} on ${server.url}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  refresh.stop();
  await server.close();
  collector.close();
  await compactor.close();
  return 0;
}

async function dump(args: string[], io: CliStreams): Promise<number> {
  const { values } = parse(args, { dir: { type: 'string' }, openmetrics: { type: 'boolean' } });
  if (values.help) return helpFor('dump', io);
  const dir = requireDirectory(values.dir as string | undefined);

  let result;
  try {
    result = new DirectoryMerger(dir).merge();
  } catch (err) {
    await write(io.stderr, `${NAME} dump: ${(err as Error).message}\n`);
    return 1;
  }
  for (const problem of result.problems) await write(io.stderr, describeProblem(problem));
  if (!values.openmetrics) {
    await write(io.stdout, renderText(result.families));
    return 0;
  }
  const exemplars = readDirectoryExemplars(dir, (p) => { void write(io.stderr, `${NAME} dump: skipped exemplars of ${p.file}: ${p.reason}\n`); });
  await write(io.stdout, renderOpenMetrics(result.families, exemplars));
  return 0;
}

function describeProblem({ file, problem, reason }: MergeProblem): string {
  const skipped = problem !== 'mode-conflict' && problem !== 'invalid-bucket' && problem !== 'stale-archive' && problem !== 'bad-journal';
  return skipped ? `${NAME}: skipped ${file} (${problem}): ${reason}\n` : `${NAME}: warning: ${file} (${problem}): ${reason}\n`;
}

async function inspect(args: string[], io: CliStreams): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' } }, true);
  if (values.help) return helpFor('inspect', io);
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing FILE' : 'give exactly one FILE');
  const file = positionals[0];
  const stat = fs.statSync(file, { throwIfNoEntry: false });
  if (!stat) throw new UsageError(`file ${file} does not exist`);
  if (!stat.isFile()) throw new UsageError(`${file} is not a regular file`);

  const reader = new DbFileReader(file);
  const outcome = reader.read(new ReadBuffer());
  if (!outcome.ok) {
    await write(io.stderr, `${NAME} inspect: ${file} is ${outcome.problem === 'corrupt' ? 'corrupt' : 'not readable'}: ${outcome.reason}\n`);
    return 1;
  }
  const rows = reader.entries.map((entry, i) => ({ entry, value: reader.values[i], timestamp: reader.timestamps[i] }));
  if (values.json) {
    const json = rows.map(({ entry, value, timestamp }) => ({
      offset: entry.offset,
      keyLength: entry.keyLength,
      padding: entry.pad,
      valueOffset: entry.valueOffset,
      metricName: entry.metricName,
      sampleName: entry.sampleName,
      labels: entry.labels,
      help: entry.help,
      // JSON has no NaN or infinities: those are given as the exposition writes them.
      value: Number.isFinite(value) ? value : floatToGoString(value),
      timestamp: Number.isFinite(timestamp) ? timestamp : floatToGoString(timestamp),
    }));
    await write(io.stdout, `${JSON.stringify(json, null, 2)}\n`);
    return 0;
  }
  const name = parseDbFileName(path.basename(file));
  const side = name ? null : parseSideFileName(path.basename(file));
  const kind = side
    ? `side file ${side.kind}, ${side.id === ARCHIVE_ID ? 'archive of dead processes' : `process ${side.id}`}`
    : !name
    ? 'not a metrics file name: the collector skips it'
    : `${name.type}${name.mode ? `, mode ${name.mode}` : ''}, ${name.id === ARCHIVE_ID ? 'archive of dead processes' : `process ${name.id}, storage ${writerStorage(file, name.id)}`}`;
  let out = `${file}: ${kind}; ${rows.length} entries in ${reader.bytesRead} used bytes\n`;
  const table = [['offset', 'sample', 'value', 'timestamp']];
  for (const { entry, value, timestamp } of rows) {
    const labels = Object.entries(entry.labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
    const sample = labels.length > 0 ? `${entry.sampleName}{${labels.join(',')}}` : entry.sampleName;
    table.push([String(entry.offset), sample, floatToGoString(value), describeTimestamp(timestamp)]);
  }
  const widths = table[0].map((_, col) => Math.max(...table.map((row) => row[col].length)));
  for (const row of table) out += row.map((cell, col) => (col === 0 ? cell.padStart(widths[0]) : cell.padEnd(widths[col]))).join('  ').trimEnd() + '\n';
  await write(io.stdout, out);
  return 0;
}

/** How the file's process writes it: its fallback marker beside the file says fallback (written-memory.ts). */
function writerStorage(file: string, id: string): string {
  return fs.existsSync(path.join(path.dirname(file), fallbackMarkerName(id))) ? `fallback (written every ${FLUSH_INTERVAL_MS} ms)` : 'mmap';
}

function describeTimestamp(seconds: number): string {
  if (seconds === 0) return '0';
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? floatToGoString(seconds) : `${seconds} (${date.toISOString()})`;
}

async function helpFor(command: string, io: CliStreams): Promise<number> {
  await write(io.stdout, `usage: ${COMMANDS[command].usage}\n${COMMANDS[command].summary}\n`);
  return 0;
}

function write(stream: NodeJS.WritableStream, text: string): Promise<void> {
  return new Promise((resolve) => {
    stream.write(text, () => resolve());
  });
}
