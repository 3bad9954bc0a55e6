/**
 * The chart of docs/benchmarks.md (pure): one row per target, its bar measured against the
 * target (the dashed line is the target; green met, red missed), then each throughput pair as
 * the notary's req/s against the bare server's in the same run. Plain SVG, no fonts to load, no
 * script: it renders the same on GitHub and in any browser.
 */
import type { BenchResults } from './results';
import { formatTarget, formatValue, type Verdict } from './targets';

export const SVG_WIDTH = 1000;
const MARGIN = 20;
const LABEL_W = 410;
const TRACK_X = MARGIN + LABEL_W;
const TRACK_W = 330;
const ROW_H = 26;
const BAR_H = 14;
/** A bar's full track is twice the target: on target = the middle. */
const TRACK_SPAN = 2;

const COLORS = { met: '#2e8540', missed: '#c62828', none: '#9e9e9e', baseline: '#b0bec5', text: '#212121', muted: '#616161', target: '#212121' };

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function text(x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${x}" y="${y}" ${attrs}>${escapeXml(content)}</text>`;
}

/** Where a bar ends for a score (1 = on target), clamped to the track. */
export function barWidth(score: number, trackW = TRACK_W, span = TRACK_SPAN): number {
  if (!Number.isFinite(score)) return trackW;
  return Math.max(0, Math.min(trackW, (score / span) * trackW));
}

function verdictRow(v: Verdict, y: number): string {
  const color = v.status === 'met' ? COLORS.met : v.status === 'missed' ? COLORS.missed : COLORS.none;
  const parts = [text(MARGIN, y + BAR_H - 2, v.label, `font-size="13" fill="${COLORS.text}"`)];
  const measured = v.measured === undefined ? 'not measured' : formatValue(v.measured, v.unit);
  const word = v.status === 'met' ? 'met' : v.status === 'missed' ? 'missed' : '';
  if (v.score !== undefined) {
    parts.push(`<rect x="${TRACK_X}" y="${y}" width="${TRACK_W}" height="${BAR_H}" fill="#eceff1"/>`);
    parts.push(`<rect x="${TRACK_X}" y="${y}" width="${barWidth(v.score).toFixed(1)}" height="${BAR_H}" fill="${color}"/>`);
    const tx = TRACK_X + TRACK_W / TRACK_SPAN;
    parts.push(`<line x1="${tx}" y1="${y - 3}" x2="${tx}" y2="${y + BAR_H + 3}" stroke="${COLORS.target}" stroke-width="1.5" stroke-dasharray="3,2"/>`);
  } else {
    // Exact or zero targets: a mark, not a bar.
    const mark = v.status === 'met' ? '✔' : v.status === 'missed' ? '✘' : '–';
    parts.push(text(TRACK_X, y + BAR_H - 1, mark, `font-size="15" fill="${color}"`));
  }
  parts.push(text(TRACK_X + TRACK_W + 12, y + BAR_H - 2, `${measured} (${formatTarget(v)}) ${word}`, `font-size="13" fill="${color}" font-weight="bold"`));
  return parts.join('');
}

function pairRow(label: string, notary: number, bare: number, ratio: number, met: boolean | undefined, y: number): string {
  const max = Math.max(notary, bare, 1);
  const w = (x: number) => ((x / max) * TRACK_W).toFixed(1);
  const color = met === undefined ? '#1565c0' : met ? COLORS.met : COLORS.missed;
  return [
    text(MARGIN, y + 10, label, `font-size="13" fill="${COLORS.text}"`),
    `<rect x="${TRACK_X}" y="${y}" width="${w(bare)}" height="7" fill="${COLORS.baseline}"/>`,
    `<rect x="${TRACK_X}" y="${y + 8}" width="${w(notary)}" height="7" fill="${color}"/>`,
    text(TRACK_X + TRACK_W + 12, y + 12, `${ratio.toFixed(2)}× (${Math.round(notary).toLocaleString('en-US')} vs ${Math.round(bare).toLocaleString('en-US')} req/s)`, `font-size="13" fill="${COLORS.text}"`),
  ].join('');
}

export function renderSvg(r: BenchResults): string {
  const body: string[] = [];
  let y = MARGIN + 16;
  const load = r.machine.load1Samples.length > 0 ? Math.max(...r.machine.load1Samples.map((s) => s.load1)) : r.machine.before.loadAverage[0];
  body.push(text(MARGIN, y, `matrix-notary benchmarks: ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC`, `font-size="17" font-weight="bold" fill="${COLORS.text}"`));
  y += 20;
  body.push(text(MARGIN, y, `${r.machine.before.cpus} cores; highest 1-minute load average during the run ${load}; load generator wrk, ${r.config.connections} connections; commit ${(r.commit ?? '?').slice(0, 12)}`, `font-size="12" fill="${COLORS.muted}"`));
  y += 28;
  body.push(text(MARGIN, y, 'Targets of issue 13 (bar: measured; dashed line: the target; longer is better)', `font-size="14" font-weight="bold" fill="${COLORS.text}"`));
  y += 14;
  for (const v of r.verdicts) {
    body.push(verdictRow(v, y));
    y += ROW_H;
  }
  const pairs = r.scenarios.throughput?.pairs ?? [];
  if (pairs.length > 0) {
    y += 16;
    body.push(text(MARGIN, y, 'Requests a second: bare node:http (grey) and the notary, same bytes, same run', `font-size="14" font-weight="bold" fill="${COLORS.text}"`));
    y += 14;
    const goal: Record<string, number> = { get_query: 0.9, post_100: 0.6 };
    for (const p of pairs) {
      body.push(pairRow(p.label, p.notary.requestsPerS, p.baseline.requestsPerS, p.ratio, goal[p.id] === undefined ? undefined : p.ratio >= goal[p.id], y));
      y += ROW_H;
    }
  }
  y += MARGIN - 6;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${SVG_WIDTH}" height="${y}" viewBox="0 0 ${SVG_WIDTH} ${y}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${SVG_WIDTH}" height="${y}" fill="#ffffff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
