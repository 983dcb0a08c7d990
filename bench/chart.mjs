// Chart of a benchmark summary (bench/results/latest.json) as one SVG, no dependencies:
// one panel per section, one bar per figure, each a ratio against the peer measured in
// the same run, with the target drawn as a dashed line.
//
//   node bench/chart.mjs [latest.json] [out.svg]     (defaults: bench/results/latest.json, .svg)
//
// run.mjs calls renderChart() after each full or quick suite.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const WIDTH = 1080;
const LABEL_W = 330; // left column: what the bar is
const BAR_X = LABEL_W + 20;
const BAR_W = 380;
const VALUE_X = BAR_X + BAR_W + 16; // right column: the ratio, then the two figures
const DETAIL_X = VALUE_X + 58;
const ROW_H = 24;
const FONT = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\"";
const COLORS = { met: '#2e7d32', missed: '#c62828', better: '#1565c0', worse: '#ef6c00', grid: '#d0d0d0', axis: '#555', text: '#222', faint: '#777' };

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const fmt = (x) => (x >= 100 ? Math.round(x).toLocaleString('en') : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toPrecision(2));
const ratioText = (x) => `${x >= 10 ? Math.round(x).toLocaleString('en') : x >= 1 ? x.toFixed(1) : x.toPrecision(2)}×`;
/** A text element; `attrs` may override the default size and colour. */
const text = (x, y, s, attrs = '') => {
  const size = attrs.includes('font-size=') ? '' : ' font-size="12"';
  const fill = attrs.includes('fill=') ? '' : ` fill="${COLORS.text}"`;
  return `<text x="${x}" y="${y}" ${FONT}${size}${fill} ${attrs}>${esc(s)}</text>`;
};

/** 1-2-5 ticks covering [lo, hi]; the domain is widened to the outer ticks. */
function logTicks(lo, hi) {
  const ticks = [];
  for (let e = Math.floor(Math.log10(lo)) - 1; e <= Math.ceil(Math.log10(hi)) + 1; e++) {
    for (const m of [1, 2, 5]) ticks.push(m * 10 ** e);
  }
  const below = ticks.filter((t) => t <= lo).at(-1);
  const above = ticks.find((t) => t >= hi);
  return ticks.filter((t) => t >= below && t <= above).map((t) => Number(t.toPrecision(1)));
}

/**
 * A panel of horizontal bars on a log axis of ratios (peer ÷ ours: right of 1× is ours
 * better). rows: { label, ratio, value, color, indent? }.
 */
function logPanel(y, { title, subtitle, rows, target, targetLabel, axisLabel, valueHeader }) {
  const ratios = rows.map((r) => r.ratio).filter((r) => r > 0);
  const ticks = logTicks(Math.min(0.5, ...ratios.map((r) => r / 1.3)), Math.max(target ? target * 1.5 : 2, ...ratios.map((r) => r * 1.3)));
  const lo = Math.log10(ticks[0]);
  const hi = Math.log10(ticks.at(-1));
  const xOf = (v) => BAR_X + ((Math.log10(v) - lo) / (hi - lo)) * BAR_W;
  return panel(y, { title, subtitle, rows, ticks, xOf, zero: 1, target, targetLabel, axisLabel, valueHeader, tickText: (t) => `${t}×` });
}

/** The same on a linear axis starting at 0 (for the churn ratio, where lower is better). */
function linearPanel(y, { title, subtitle, rows, target, targetLabel, axisLabel, valueHeader, max }) {
  const top = Math.max(max, ...rows.map((r) => r.ratio * 1.1));
  const step = top <= 2 ? 0.2 : top <= 5 ? 0.5 : 1;
  const ticks = [];
  for (let t = 0; t <= top + 1e-9; t += step) ticks.push(Number(t.toFixed(1)));
  const xOf = (v) => BAR_X + (v / ticks.at(-1)) * BAR_W;
  return panel(y, { title, subtitle, rows, ticks, xOf, zero: 0, target, targetLabel, axisLabel, valueHeader, tickText: (t) => String(t) });
}

function panel(y, { title, subtitle, rows, ticks, xOf, zero, target, targetLabel, axisLabel, valueHeader, tickText }) {
  const parts = [];
  parts.push(text(16, y + 18, title, 'font-size="15" font-weight="bold"'));
  parts.push(text(16, y + 36, subtitle, `font-size="11" fill="${COLORS.faint}"`));
  const top = y + 64;
  parts.push(text(VALUE_X, top - 6, 'ratio', `font-size="10" fill="${COLORS.faint}"`));
  parts.push(text(DETAIL_X, top - 6, valueHeader, `font-size="10" fill="${COLORS.faint}"`));
  const bottom = top + rows.length * ROW_H + 4;
  for (const t of ticks) {
    const x = xOf(t).toFixed(1);
    parts.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${bottom}" stroke="${t === zero ? COLORS.axis : COLORS.grid}" stroke-width="${t === zero ? 1.2 : 0.8}"/>`);
    parts.push(text(x, bottom + 13, tickText(t), `font-size="10" fill="${COLORS.faint}" text-anchor="middle"`));
  }
  parts.push(text(BAR_X + BAR_W / 2, bottom + 27, axisLabel, `font-size="10" fill="${COLORS.faint}" text-anchor="middle"`));
  rows.forEach((r, i) => {
    const rowY = top + 4 + i * ROW_H;
    const x0 = xOf(zero);
    const x1 = xOf(Math.max(r.ratio, ticks[0]));
    const [left, w] = x1 >= x0 ? [x0, x1 - x0] : [x1, x0 - x1];
    parts.push(text(16 + (r.indent ? 18 : 0), rowY + 15, r.label, r.indent ? `font-size="11" fill="${COLORS.faint}"` : ''));
    parts.push(`<rect x="${left.toFixed(1)}" y="${rowY + 3}" width="${Math.max(w, 1.5).toFixed(1)}" height="${ROW_H - 8}" fill="${r.color}"${r.indent ? ' fill-opacity="0.55"' : ''}/>`);
    parts.push(text(VALUE_X, rowY + 15, r.ratioText, r.indent ? `font-size="11" fill="${COLORS.faint}"` : 'font-weight="bold"'));
    parts.push(text(DETAIL_X, rowY + 15, r.value, r.indent ? `font-size="11" fill="${COLORS.faint}"` : ''));
  });
  if (target !== undefined) {
    const x = xOf(target).toFixed(1);
    parts.push(`<line x1="${x}" y1="${top - 4}" x2="${x}" y2="${bottom}" stroke="${COLORS.missed}" stroke-width="1.5" stroke-dasharray="5,3"/>`);
    parts.push(text(x, top - 7, targetLabel, `font-size="10" fill="${COLORS.missed}" text-anchor="middle"`));
  }
  return { svg: parts.join('\n'), height: bottom + 40 - y };
}

const judged = (met) => (met ? COLORS.met : COLORS.missed);
const neutral = (ratio) => (ratio >= 1 ? COLORS.better : COLORS.worse);

export function renderChart(latest) {
  const m = latest.machine;
  const parts = [];
  let y = 0;
  const add = (p) => {
    parts.push(p.svg);
    y += p.height;
  };
  const header = [
    text(16, 26, `@prom-multiproc/core ${latest.versions['@prom-multiproc/core']} vs prom-client ${latest.versions['prom-client']}`, 'font-size="17" font-weight="bold"'),
    text(WIDTH - 16, 26, 'each bar: a ratio against the peer measured in the same run', 'font-size="12" text-anchor="end"'),
    text(16, 46, `${latest.run.command} (${latest.run.mode}), ${latest.run.started.slice(0, 16).replace('T', ' ')} UTC, commit ${latest.versions.git_commit ?? '?'}${latest.versions.git_dirty ? ' + uncommitted changes' : ''}; ` +
      `Node ${m.node}, ${m.cpu}${m.cpu_mhz ? ` ${m.cpu_mhz} MHz` : ''}, ${m.cores} cores, ${m.memory_gib} GiB${m.virtual_machine ? ', VM' : ''}; load ${m.loadavg_start[0]}→${m.loadavg_end[0]}`, `font-size="11" fill="${COLORS.faint}"`),
    legend(16, 66),
  ];
  parts.push(...header);
  y = 78;

  // Hot path
  const hotRows = [];
  for (const r of latest.hotpath) {
    hotRows.push({ label: r.case, ratio: r.ratio, color: judged(r.target_met), ratioText: ratioText(r.ratio), value: `${fmt(r.ours_ns)} vs ${fmt(r.promclient_ns)} ns${r.note && !r.isolated ? ' *' : ''}` });
    for (const x of r.isolated ?? []) {
      const setup = x.setup === 'default-metrics' ? 'own process, prom-client default metrics on' : 'own process, nothing else run';
      hotRows.push({ label: `same case, ${setup}`, ratio: x.ratio, color: judged(x.target_met), indent: true, ratioText: ratioText(x.ratio), value: `${fmt(x.ours_ns)} vs ${fmt(x.promclient_ns)} ns` });
    }
  }
  add(logPanel(y, {
    title: 'Hot path: one update, ours (into the mapped file) vs prom-client (in memory)',
    subtitle: 'median ns per call; * prom-client\'s summary also feeds a t-digest, ours in multiprocess mode keeps count and sum only',
    rows: hotRows,
    target: 2,
    targetLabel: 'target 2×',
    axisLabel: 'prom-client time ÷ our time (log scale; right of 1× = ours faster)',
    valueHeader: 'ours vs prom-client',
  }));

  // Scrape
  const scrapeRows = latest.scrape.map((r) => ({
    label: `${r.workers} worker${r.workers > 1 ? 's' : ''} × ${r.series.toLocaleString('en')} series`,
    ratio: r.ratio,
    color: r.target_ratio ? judged(r.target_met) : neutral(r.ratio),
    ratioText: ratioText(r.ratio),
    value: `${fmt(r.ours_ms)} vs ${fmt(r.aggregator_ms)} ms`,
  }));
  const headline = latest.scrape.find((r) => r.target_ratio);
  add(logPanel(y, {
    title: 'Scrape: full scrape of W workers × S series, our Collector vs AggregatorRegistry',
    subtitle: 'median ms per scrape, steady state (first scrapes in latest.json); the target is for 8 workers × 10,000 series',
    rows: scrapeRows,
    target: headline?.target_ratio,
    targetLabel: `target ${headline?.target_ratio}× (8 × 10,000)`,
    axisLabel: 'AggregatorRegistry time ÷ our time (log scale)',
    valueHeader: 'ours vs AggregatorRegistry',
  }));

  // Churn
  const c = latest.churn;
  add(linearPanel(y, {
    title: `Churn: scrape after ${c.restarts.toLocaleString('en')} worker restarts (compacted) vs no restarts`,
    subtitle: `${c.live_workers} live workers × ${c.series_per_worker.toLocaleString('en')} series; median ms per scrape` +
      (c.uncompacted ? `; left uncompacted (Python's behaviour), ${c.uncompacted.dead_processes.toLocaleString('en')} dead processes: ${fmt(c.uncompacted.ms)} ms` : ''),
    rows: [
      { label: 'wall-clock time, after ÷ fresh', ratio: c.ratio, color: judged(c.ratio <= c.target_ratio), ratioText: c.ratio.toFixed(2), value: `${fmt(c.after_ms)} vs ${fmt(c.fresh_ms)} ms` },
      { label: 'CPU time, after ÷ fresh', ratio: c.cpu_ratio, color: judged(c.cpu_ratio <= c.target_ratio), ratioText: c.cpu_ratio.toFixed(2), value: `${fmt(c.after_cpu_ms)} vs ${fmt(c.fresh_cpu_ms)} ms` },
    ],
    target: c.target_ratio,
    targetLabel: `target ≤ ${c.target_ratio}`,
    axisLabel: 'scrape time after restarts ÷ scrape time fresh (lower is better)',
    valueHeader: 'after restarts vs fresh',
    max: 1.4,
  }));

  // Memory
  const mem = latest.memory;
  const cell = `${mem.workers} × ${mem.series.toLocaleString('en')}`;
  const memRows = [
    { label: `serving process, peak RSS (${cell})`, ratio: mem.peak_rss_ratio, value: `${fmt(mem.collector_peak_rss_mb)} vs ${fmt(mem.aggregator_peak_rss_mb)} MB` },
    { label: `serving process, RSS after scrapes (${cell})`, ratio: mem.rss_ratio, value: `${fmt(mem.collector_rss_mb)} vs ${fmt(mem.aggregator_rss_mb)} MB` },
    { label: `one worker, RSS (${mem.series.toLocaleString('en')} series)`, ratio: mem.worker_rss_ratio, value: `${fmt(mem.ours_worker_rss_mb)} vs ${fmt(mem.promclient_worker_rss_mb)} MB` },
    {
      label: 'one worker, bytes per series',
      ratio: mem.per_series_ratio,
      value: `${fmt(mem.ours_worker_heap_bytes_per_series)} heap + ${fmt(mem.file_used_bytes_per_series)} file vs ${fmt(mem.promclient_worker_heap_bytes_per_series)} B heap`,
    },
  ].map((r) => ({ ...r, color: neutral(r.ratio), ratioText: ratioText(r.ratio) }));
  add(logPanel(y, {
    title: 'Memory: ours vs prom-client (AggregatorRegistry primary; prom-client workers)',
    subtitle: `no target; our files: ${fmt(mem.file_bytes_per_series)} B on disk, ${fmt(mem.file_used_bytes_per_series)} B used per series; serving process = our collector vs the cluster primary`,
    rows: memRows,
    axisLabel: "prom-client's memory ÷ ours (log scale; right of 1× = ours smaller)",
    valueHeader: 'ours vs prom-client',
  }));

  const height = Math.ceil(y + 10);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

function legend(x, y) {
  const items = [
    [COLORS.met, 'target met'],
    [COLORS.missed, 'target missed'],
    [COLORS.better, 'no target, ours better'],
    [COLORS.worse, 'no target, ours worse'],
  ];
  let cx = x;
  const parts = [];
  for (const [color, label] of items) {
    parts.push(`<rect x="${cx}" y="${y - 9}" width="12" height="10" fill="${color}"/>`);
    parts.push(text(cx + 16, y, label, `font-size="11"`));
    cx += 16 + label.length * 6.6 + 18;
  }
  return parts.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const input = path.resolve(process.argv[2] ?? path.join(here, 'results', 'latest.json'));
  const output = path.resolve(process.argv[3] ?? input.replace(/\.json$/, '.svg'));
  fs.writeFileSync(output, renderChart(JSON.parse(fs.readFileSync(input, 'utf8'))));
  console.log(`wrote ${path.relative(process.cwd(), output)}`);
}
