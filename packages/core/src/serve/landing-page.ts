// The page at `/` of a collector's server, for people: where the metrics are, the
// directory, its processes, the compactor and the files the last scrape skipped.
// Plain HTML, no script, no external asset; every value from the directory (file names,
// label names and values, ids) is escaped, and the server forbids scripts by CSP too.
import type { Collector } from '../collect/collector.js';
import { reportDirectory, type ProcessReport } from '../collect/directory-report.js';

/** Served with the page: nothing but the inline style may load or run. */
export const LANDING_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'";

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

function time(date: Date | undefined): string {
  return date ? `<time datetime="${date.toISOString()}">${date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}</time>` : 'never';
}

function processRow(p: ProcessReport): string {
  const labels = p.labels.map(([name, value]) => `<span class="label">${escapeHtml(name)}="${escapeHtml(value)}"</span>`).join(' ');
  return `<tr class="process" data-id="${escapeHtml(p.id)}" data-state="${p.state}">`
    + `<td class="id">${escapeHtml(p.id)}</td><td class="labels">${labels}</td><td class="state ${p.state}">${p.state}</td>`
    + `<td class="files" title="${escapeHtml(p.files.join('\n'))}">${p.files.length}</td><td class="bytes">${p.bytes}</td>`
    + `<td class="last-change">${time(p.lastChange)}</td></tr>`;
}

/** The page for `collector`'s current state; `metricsPath` is where its metrics are served. */
export async function renderLandingPage(collector: Collector, metricsPath: string): Promise<string> {
  const report = await reportDirectory(collector.directory);
  const compactor = collector.compactor?.state();
  const counts = { alive: 0, dead: 0, archive: 0, unknown: 0 };
  for (const p of report.processes) counts[p.state]++;
  const archives = report.processes.find((p) => p.state === 'archive')?.files.length ?? 0;
  const compactorText = compactor === undefined
    ? 'none: this collector does not fold dead processes'
    : `${compactor.compacting ? '<strong class="leader">leader</strong>: this collector folds dead processes'
      : '<strong class="read-only">read-only</strong>: another collector holds the directory\'s lock'}; `
      + `last fold ${time(compactor.lastFoldAt)}; ${compactor.compactions} compactions, ${compactor.folded} processes folded, ${compactor.errors} errors; `
      + `archive files: ${archives}`;
  const problems = collector.lastProblems.map((p) =>
    `<tr class="skipped"><td class="file">${escapeHtml(p.file)}</td><td class="reason">${escapeHtml(p.problem)}</td><td>${escapeHtml(p.reason)}</td></tr>`);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="10">
<title>prom-multiproc collector</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
td.files, td.bytes { text-align: right; }
.dead { color: #a40; } .alive { color: #070; } .read-only { color: #a40; }
.label { font-family: monospace; }
</style>
</head>
<body>
<h1>prom-multiproc collector</h1>
<p>Metrics: <a id="metrics-link" href="${escapeHtml(metricsPath)}">${escapeHtml(metricsPath)}</a></p>
<p>Directory: <code id="directory">${escapeHtml(report.directory)}</code>${report.error ? ` <strong class="error">${escapeHtml(report.error)}</strong>` : ''}</p>
<p id="compactor">Compactor: ${compactorText}</p>
<p>Last scrape: ${time(collector.lastScrapeAt)} (${collector.scrapes} served). This page refreshes every 10 s.</p>
<h2>Processes</h2>
<p id="process-counts">${counts.alive} alive, ${counts.dead} dead (to be folded), archive files: ${archives}${counts.unknown ? `, ${counts.unknown} with ids that are not pids` : ''}</p>
<table id="processes">
<thead><tr><th>id</th><th>labels</th><th>state</th><th>files</th><th>bytes</th><th>last change</th></tr></thead>
<tbody>
${report.processes.map(processRow).join('\n')}
</tbody>
</table>
<h2>Files skipped or noted by the last scrape</h2>
${problems.length === 0 ? '<p id="no-skipped">None.</p>' : `<table id="skipped">
<thead><tr><th>file</th><th>reason</th><th>detail</th></tr></thead>
<tbody>
${problems.join('\n')}
</tbody>
</table>`}
</body>
</html>
`;
}
