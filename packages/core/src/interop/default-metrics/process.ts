// Default metrics about the OS process: CPU time, start time, memory, file descriptors.
// Names, help texts and units are prom-client 15's; the merge mode is ours (see index.ts).
import fs from 'node:fs';
import { Counter } from '../../metrics/counter.js';
import { Gauge } from '../../metrics/gauge.js';
import type { GroupContext } from './shared.js';

export function processCpu(ctx: GroupContext): void {
  let last = process.cpuUsage();
  const { registers, labelNames, labels, prefix } = ctx;
  new Counter({
    name: `${prefix}process_cpu_user_seconds_total`,
    help: 'Total user CPU time spent in seconds.',
    registers,
    labelNames,
    // One callback sets the three counters from one reading.
    collect(this: Counter) {
      const now = process.cpuUsage();
      const user = (now.user - last.user) / 1e6;
      const sys = (now.system - last.system) / 1e6;
      last = now;
      this.inc(labels, user);
      system.inc(labels, sys);
      total.inc(labels, user + sys);
    },
  });
  const system = new Counter({ name: `${prefix}process_cpu_system_seconds_total`, help: 'Total system CPU time spent in seconds.', registers, labelNames });
  const total = new Counter({ name: `${prefix}process_cpu_seconds_total`, help: 'Total user and system CPU time spent in seconds.', registers, labelNames });
}

const START_SECONDS = Math.round(Date.now() / 1000 - process.uptime());

export function processStartTime(ctx: GroupContext): void {
  const { labels } = ctx;
  new Gauge({
    name: `${ctx.prefix}process_start_time_seconds`,
    help: 'Start time of the process since unix epoch in seconds.',
    registers: ctx.registers,
    labelNames: ctx.labelNames,
    multiprocessMode: 'livemax',
    collect(this: Gauge) {
      this.set(labels, START_SECONDS);
    },
  });
}

/** VmRSS, VmSize and VmData of /proc/self/status, in bytes. */
function procStatus(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of fs.readFileSync('/proc/self/status', 'utf8').split('\n')) {
    const match = /^(VmRSS|VmSize|VmData):\s*(\d+)\s*kB/.exec(line);
    if (match) out[match[1]] = Number(match[2]) * 1024;
  }
  return out;
}

export function processMemory(ctx: GroupContext): void {
  const { registers, labelNames, labels, prefix } = ctx;
  const linux = process.platform === 'linux';
  new Gauge({
    name: `${prefix}process_resident_memory_bytes`,
    help: 'Resident memory size in bytes.',
    registers,
    labelNames,
    collect(this: Gauge) {
      try {
        if (!linux) {
          this.set(labels, process.memoryUsage.rss());
          return;
        }
        const status = procStatus();
        if (status.VmRSS !== undefined) this.set(labels, status.VmRSS);
        if (status.VmSize !== undefined) virtual!.set(labels, status.VmSize);
        if (status.VmData !== undefined) heap!.set(labels, status.VmData);
      } catch {
        /* no /proc or memoryUsage failed: keep the last values */
      }
    },
  });
  const virtual = linux ? new Gauge({ name: `${prefix}process_virtual_memory_bytes`, help: 'Virtual memory size in bytes.', registers, labelNames }) : undefined;
  const heap = linux ? new Gauge({ name: `${prefix}process_heap_bytes`, help: 'Process heap size in bytes.', registers, labelNames }) : undefined;
}

function maxOpenFiles(): number | undefined {
  try {
    const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    return line ? Number(line.split(/ {2,}/)[1]) : undefined;
  } catch {
    return undefined;
  }
}

export function processFileDescriptors(ctx: GroupContext): void {
  if (process.platform !== 'linux') return;
  const { registers, labelNames, labels, prefix } = ctx;
  new Gauge({
    name: `${prefix}process_open_fds`,
    help: 'Number of open file descriptors.',
    registers,
    labelNames,
    multiprocessMode: 'livemax',
    collect(this: Gauge) {
      try {
        // One less: the descriptor readdirSync itself had open.
        this.set(labels, fs.readdirSync('/proc/self/fd').length - 1);
      } catch {
        /* keep the last value */
      }
    },
  });
  const max = maxOpenFiles();
  if (max === undefined) return;
  new Gauge({
    name: `${prefix}process_max_fds`,
    help: 'Maximum number of open file descriptors.',
    registers,
    labelNames,
    multiprocessMode: 'livemin',
    collect(this: Gauge) {
      this.set(labels, max);
    },
  });
}
