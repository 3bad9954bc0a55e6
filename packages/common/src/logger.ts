/**
 * Structured JSON logs through pino. Built per role and passed down (no module-level singleton).
 * Paths that could carry a secret are redacted, as a second line of defence: code should never
 * log them in the first place.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  role: string;
  /** Where to write; defaults to stdout. Tests pass a stream to capture lines. */
  destination?: NodeJS.WritableStream;
}

export const REDACTED_LOG_PATHS = [
  'token', '*.token', 'signerToken', '*.signerToken', 'authorization', '*.authorization',
  'headers.authorization', 'req.headers.authorization', 'seed', '*.seed', 'secretKey', '*.secretKey',
];

/**
 * One JSON line per event: `{"level":"info","time":"2026-11-29T14:50:11.123Z","role":"api","msg":...}`.
 * Level names and ISO times, so a person reading the log (or a log shipper without pino's
 * conventions) needs no lookup table. pino writes synchronously to the destination, so the last
 * lines before an exit are never lost.
 */
export function createLogger(opts: LoggerOptions): Logger {
  return pino(
    {
      level: opts.level ?? 'info',
      base: { role: opts.role },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' },
    },
    opts.destination ?? process.stdout,
  );
}

/** A logger that drops everything, for library callers that pass none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
