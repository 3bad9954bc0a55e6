/**
 * What a notary process went through during one run, from its own metrics scraped before and
 * after (pure): the longest event-loop delay (prom-client's monitorEventLoopDelay, reset at each
 * scrape, so the "after" value covers the run), garbage collection by kind, and requests its own
 * latency histogram saw take longer than a second. These are the suspects for a stall.
 */
import { counterDelta, largestBucketReached, observationsAbove, type Scrape } from './prom-text';

const P = 'matrix_notary_';

export interface ProcessDiagnostics {
  /** Longest event-loop delay during the run, ms (10 ms resolution). */
  eventLoopMaxMs?: number;
  /** GC time per kind (major, minor, incremental, weakcb), ms. */
  gcMs: Record<string, number>;
  gcCount: number;
  /** The smallest GC-duration bucket (seconds) holding every GC of the run: "0.01" means all under 10 ms. */
  gcLongestBucketS?: string;
  /** Requests the notary's own histogram saw take over 1 s. */
  requestsOverOneSecond: number;
  heapUsedMB?: number;
}

function ms(seconds: number | undefined): number | undefined {
  return seconds === undefined ? undefined : Math.round(seconds * 1e5) / 100;
}

export function processDiagnostics(before: Scrape, after: Scrape): ProcessDiagnostics {
  const gcMs: Record<string, number> = {};
  for (const kind of after.labelValues(`${P}nodejs_gc_duration_seconds_count`, 'kind')) {
    const s = counterDelta(before, after, `${P}nodejs_gc_duration_seconds_sum`, { kind });
    if (s > 0) gcMs[kind] = ms(s)!;
  }
  const heap = after.sum(`${P}nodejs_heap_size_used_bytes`);
  return {
    eventLoopMaxMs: ms(after.sum(`${P}nodejs_eventloop_lag_max_seconds`)),
    gcMs,
    gcCount: counterDelta(before, after, `${P}nodejs_gc_duration_seconds_count`),
    gcLongestBucketS: largestBucketReached(before, after, `${P}nodejs_gc_duration_seconds`),
    requestsOverOneSecond: after.sum(`${P}http_request_duration_seconds_count`) === undefined
      ? 0
      : observationsAbove(before, after, `${P}http_request_duration_seconds`, '1'),
    heapUsedMB: heap === undefined ? undefined : Math.round(heap / 1e5) / 10,
  };
}

/** Refreshes by outcome between two scrapes (a worker's, or `all`'s). */
export function refreshOutcomes(before: Scrape, after: Scrape): Record<string, number> {
  const out: Record<string, number> = {};
  for (const outcome of after.labelValues(`${P}refreshes_total`, 'outcome')) {
    const n = counterDelta(before, after, `${P}refreshes_total`, { outcome });
    if (n !== 0) out[outcome] = n;
  }
  return out;
}
