/**
 * With BENCH_TRACE_GC=1 the notary runs under `node --trace-gc`: V8 prints one line per
 * collection. This keeps the long pauses (with when they were seen) so a run's stalls can be set
 * against them. The parsing is pure.
 */

export interface GcPause {
  /** Which process printed it. */
  label: string;
  /** Wall-clock ms when the bench read the line (V8 prints as the pause ends). */
  seenAtMs: number;
  kind: string;
  pauseMs: number;
}

// e.g. "[123:0x55d0c]   5213 ms: Mark-Compact 61.2 (80.1) -> 40.3 (79.9) MB, pooled: 0 MB, 35.17 / 0.00 ms  (...)"
const LINE = /^\[\d+:0x[0-9a-f]+\]\s+\d+ ms: ([A-Za-z-]+(?: [A-Za-z-]+)*?)(?: \([a-z ]+\))? [\d.]+ \([\d.]+\) -> [\d.]+ \([\d.]+\) MB, (?:pooled: [\d.]+ MB, )?([\d.]+) \/ [\d.]+ ms/;

export function parseGcLine(line: string): { kind: string; pauseMs: number } | undefined {
  const m = LINE.exec(line);
  return m ? { kind: m[1], pauseMs: Number(m[2]) } : undefined;
}

/** Pauses shorter than this are not kept (a busy server collects hundreds of times a second). */
export const GC_PAUSE_KEPT_MS = 5;

export class GcLog {
  private readonly pauses: GcPause[] = [];
  private readonly maxKept = 10_000;
  /** Collections seen per label, whatever their length. */
  readonly seen = new Map<string, number>();

  line(label: string, text: string, nowMs = Date.now()): void {
    const gc = parseGcLine(text);
    if (!gc) return;
    this.seen.set(label, (this.seen.get(label) ?? 0) + 1);
    if (gc.pauseMs >= GC_PAUSE_KEPT_MS && this.pauses.length < this.maxKept) this.pauses.push({ label, seenAtMs: nowMs, ...gc });
  }

  /** Kept pauses seen between two wall-clock instants, longest first. */
  between(fromMs: number, toMs: number, label?: string): GcPause[] {
    return this.pauses
      .filter((p) => p.seenAtMs >= fromMs && p.seenAtMs <= toMs && (label === undefined || p.label === label))
      .sort((a, b) => b.pauseMs - a.pauseMs);
  }
}
