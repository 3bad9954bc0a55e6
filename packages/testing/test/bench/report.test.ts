import { renderConsole } from '../../src/bench/report';
import { renderMarkdown } from '../../src/bench/report-markdown';
import { barWidth, escapeXml, renderSvg } from '../../src/bench/svg';
import { markdownTable, textTable } from '../../src/bench/table';
import { fixtureResults } from './fixture';

describe('tables', () => {
  const t = { header: ['scenario', 'req/s'], rows: [['GET', '27,000'], ['POST | 100', '3,000']] };

  it('aligns text columns: names left, numbers right', () => {
    expect(textTable(t, '')).toBe(['scenario     req/s', '----------  ------', 'GET         27,000', 'POST | 100   3,000'].join('\n'));
  });

  it('writes Markdown with right-aligned numbers and escaped pipes', () => {
    expect(markdownTable(t)).toBe(['| scenario | req/s |', '| --- | ---: |', '| GET | 27,000 |', '| POST \\| 100 | 3,000 |'].join('\n'));
  });
});

describe('the verdicts drawn from a run', () => {
  it('judges what was measured and leaves the rest "not measured"', () => {
    const r = fixtureResults();
    const by = Object.fromEntries(r.verdicts.map((v) => [v.id, v]));
    expect(by.get_throughput.status).toBe('met');
    expect(by.get_p99.status).toBe('met');
    expect(by.post100_throughput).toMatchObject({ status: 'missed', margin: '75% short' });
    // Only the notary's runs count: the baseline is the control.
    expect(by.no_stalls).toMatchObject({ status: 'missed', measured: 3, note: '1 of 2 notary runs' });
    expect(by.stampede_exact.status).toBe('met');
    expect(by.refresh_rate.status).toBe('not measured');
    expect(by.rss_cached).toMatchObject({ status: 'missed', measured: 240 });
    expect(by.rss_unknown.status).toBe('met');
    expect(by.redis_bytes.status).toBe('missed');
  });
});

describe('the reports', () => {
  it('the terminal report leads with the verdicts and shows each scenario', () => {
    const text = renderConsole(fixtureResults());
    expect(text.indexOf('targets (issue 13')).toBe(0);
    expect(text).toContain('MISSED');
    expect(text).toContain('0.15×');
    expect(text).toContain('stampede:');
    expect(text).toMatch(/api RSS after the cached servers\s+240 MB/);
  });

  it('docs/benchmarks.md embeds the chart, names the results file and the load', () => {
    const md = renderMarkdown(fixtureResults(), 'bench/results/latest.json');
    expect(md).toMatch(/^# Benchmarks/);
    expect(md).toContain('![The targets of issue 13');
    expect(md).toContain('(benchmarks.svg)');
    expect(md).toContain('`bench/results/latest.json`');
    expect(md).toContain('The machine was otherwise quiet.');
    expect(md).toContain('| cache-hit GET /query/{server}: req/s vs bare node:http | 0.90× | ≥ 0.90× | met |');
  });

  it('says when others shared the machine, and when a run is not valid', () => {
    const r = fixtureResults({ problems: ['get_query notary, round 1: 3 answers had a status of 400 or more'] });
    r.machine.load1Samples.push({ atS: 30, load1: 3.5 });
    const md = renderMarkdown(r, 'x.json');
    expect(md).toContain('the figures are indicative');
    expect(md).toContain('**This run is not a valid measurement:**');
    expect(md).toContain('- get_query notary, round 1: 3 answers');
  });
});

describe('the chart', () => {
  it('is one standalone SVG with a row per target and per throughput pair', () => {
    const r = fixtureResults();
    const svg = renderSvg(r);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    for (const v of r.verdicts) expect(svg).toContain(escapeXml(v.label));
    expect(svg).toContain('0.15× (3,000 vs 20,000 req/s)');
    expect(svg).not.toMatch(/<script/);
    // Balanced elements: every opened text and svg is closed.
    expect((svg.match(/<text /g) ?? []).length).toBe((svg.match(/<\/text>/g) ?? []).length);
    const height = Number(/height="(\d+(?:\.\d+)?)"/.exec(svg)![1]);
    const lastY = Math.max(...[...svg.matchAll(/ y="(\d+(?:\.\d+)?)"/g)].map((m) => Number(m[1])));
    expect(lastY).toBeLessThan(height);
  });

  it('draws a bar to the target line at a score of 1, and clamps', () => {
    expect(barWidth(1, 300)).toBe(150);
    expect(barWidth(0.5, 300)).toBe(75);
    expect(barWidth(5, 300)).toBe(300);
    expect(barWidth(Infinity, 300)).toBe(300);
    expect(barWidth(-1, 300)).toBe(0);
  });

  it('escapes text', () => {
    expect(escapeXml('GET /query/{server} <a & "b">')).toBe('GET /query/{server} &lt;a &amp; &quot;b&quot;&gt;');
  });
});
