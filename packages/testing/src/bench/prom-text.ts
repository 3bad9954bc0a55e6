/**
 * Reading the Prometheus text format the notary serves on its metrics port, pure: enough of it
 * for the bench (samples with labels; no exemplars or timestamps needed), and the differences
 * between two scrapes that tell what happened during a run.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parsePrometheusText(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    out.push({ name: m[1], labels, value });
  }
  return out;
}

export class Scrape {
  constructor(readonly samples: Sample[]) {}

  static parse(text: string): Scrape {
    return new Scrape(parsePrometheusText(text));
  }

  /** Sum of the samples named `name` whose labels include `match`; undefined when there is none. */
  sum(name: string, match: Record<string, string> = {}): number | undefined {
    let total: number | undefined;
    for (const s of this.samples) {
      if (s.name !== name) continue;
      if (!Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue;
      total = (total ?? 0) + s.value;
    }
    return total;
  }

  /** Values of one label across the samples named `name` (e.g. every `kind` of GC). */
  labelValues(name: string, label: string): string[] {
    return [...new Set(this.samples.filter((s) => s.name === name && s.labels[label] !== undefined).map((s) => s.labels[label]))];
  }
}

/** `after − before` for a counter (or a histogram's _count/_sum/_bucket); 0 when absent. */
export function counterDelta(before: Scrape, after: Scrape, name: string, match: Record<string, string> = {}): number {
  return (after.sum(name, match) ?? 0) - (before.sum(name, match) ?? 0);
}

/**
 * From a histogram's buckets in two scrapes: how many observations during the interval were
 * above `le` (the bucket bound), i.e. count − bucket{le}.
 */
export function observationsAbove(before: Scrape, after: Scrape, histogram: string, le: string, match: Record<string, string> = {}): number {
  const count = counterDelta(before, after, `${histogram}_count`, match);
  const within = counterDelta(before, after, `${histogram}_bucket`, { ...match, le });
  return count - within;
}

/** The smallest bucket bound holding every observation of the interval ("+Inf" when one was beyond all). */
export function largestBucketReached(before: Scrape, after: Scrape, histogram: string, match: Record<string, string> = {}): string | undefined {
  const count = counterDelta(before, after, `${histogram}_count`, match);
  if (count === 0) return undefined;
  const bounds = [...new Set(after.samples.filter((s) => s.name === `${histogram}_bucket` && s.labels.le !== undefined).map((s) => s.labels.le))]
    .filter((le) => le !== '+Inf')
    .sort((a, b) => Number(a) - Number(b));
  for (const le of bounds) if (observationsAbove(before, after, histogram, le, match) === 0) return le;
  return '+Inf';
}
