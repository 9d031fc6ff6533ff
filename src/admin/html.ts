/**
 * `pigeon stat -html`: the spool status (status.ts) as one static page,
 * with no script and no outside resource, safe to open from a file or to
 * serve as it is. Every value from the spool or the log is escaped.
 */
import { iBytes } from '../format.js';
import type { LogEvent, NodeStatus, QueueTotals } from './status.js';

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function totals(t: QueueTotals): string {
  return t.pkts === 0 ? '<span class="none">-</span>' : `${t.pkts} <small>(${esc(iBytes(t.bytes))})</small>`;
}

function event(e: LogEvent | null): string {
  if (!e) return '<span class="none">never</span>';
  const cls = e.err !== undefined ? ' class="err"' : '';
  return `<span${cls}>${esc(e.when)} ${esc(e.who)}${e.err !== undefined ? ': ' + esc(e.err) : ''}</span>`;
}

function nodeRow(s: NodeStatus): string {
  return (
    `<tr id="node-${esc(s.node)}"><th scope="row">${esc(s.node)}<br><code>${esc(s.id.slice(0, 16))}…</code></th>` +
    `<td>${totals(s.rx)}</td><td>${totals(s.tx)}</td><td>${totals(s.nock)}</td><td>${totals(s.part)}</td>` +
    `<td${s.quarantine.pkts > 0 ? ' class="err"' : ''}>${totals(s.quarantine)}</td>` +
    `<td>${s.oldest ? esc(s.oldest) : '<span class="none">-</span>'}</td>` +
    `<td>${event(s.lastCall)}</td><td>${s.errors.length}</td></tr>`
  );
}

function errorsSection(all: NodeStatus[]): string {
  const rows = all.flatMap((s) => s.errors.map((e) => `<tr><td>${esc(e.when)}</td><td>${esc(s.node)}</td><td>${esc(e.who)}</td><td>${esc(e.msg)}</td><td class="err">${esc(e.err ?? '')}</td></tr>`));
  if (rows.length === 0) return '<h2>Recent errors</h2><p class="none" id="no-errors">No errors logged.</p>';
  return `<h2>Recent errors</h2><table id="errors"><thead><tr><th>When</th><th>Node</th><th>Who</th><th>Message</th><th>Error</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function niceSection(all: NodeStatus[]): string {
  const rows = all.flatMap((s) => s.nice.map((n) => `<tr><td>${esc(s.node)}</td><td>${esc(n.niceName)} (${n.nice})</td><td>${totals(n.rx)}</td><td>${totals(n.tx)}</td><td>${totals(n.nock)}</td></tr>`));
  if (rows.length === 0) return '';
  return `<h2>By niceness</h2><table id="nice"><thead><tr><th>Node</th><th>Nice</th><th>Rx</th><th>Tx</th><th>NoCK</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

const STYLE = `body{font:15px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}
h1{font-size:1.5em;margin:0 0 .2em}h2{font-size:1.15em;margin:1.4em 0 .4em}
table{border-collapse:collapse;min-width:50%}th,td{border:1px solid #bbb;padding:.3em .6em;text-align:left;vertical-align:top}
thead th{background:#2a5d8f;color:#fff}tbody tr:nth-child(even){background:#eef3f8}
small{white-space:nowrap}.none{color:#888}.err{color:#b00020}code{font-size:.85em}p.meta{color:#555;margin:0}`;

/** The whole page. `title` names the spool (its path), `now` the time of the snapshot. */
export function statusPage(all: NodeStatus[], o: { title: string; now?: Date }): string {
  const now = (o.now ?? new Date()).toISOString();
  const head =
    '<thead><tr><th>Node</th><th>Rx</th><th>Tx</th><th>NoCK</th><th>Part</th><th>Quarantine</th><th>Oldest</th><th>Last call</th><th>Errors</th></tr></thead>';
  return (
    `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="generator" content="pigeon stat -html">` +
    `<title>Pigeon spool ${esc(o.title)}</title><style>${STYLE}</style></head><body>` +
    `<h1>Pigeon spool status</h1><p class="meta">Spool <code>${esc(o.title)}</code>, as of ${esc(now)}</p>` +
    `<h2>Neighbours</h2><table id="nodes">${head}<tbody>${all.map(nodeRow).join('')}</tbody></table>` +
    niceSection(all) +
    errorsSection(all) +
    `</body></html>\n`
  );
}
