/** How long an HTTP response says it may be kept (RFC 9111, the parts a private cache needs). */
import type { IncomingHttpHeaders } from 'node:http';

/**
 * The freshness lifetime the headers give, in ms, or undefined when they give none.
 * `Cache-Control: max-age` wins over `Expires`; `no-store`/`no-cache` give 0.
 */
export function freshnessLifetimeMs(headers: IncomingHttpHeaders, nowMs: number): number | undefined {
  const cacheControl = headers['cache-control'];
  if (cacheControl) {
    const directives = cacheControl
      .toLowerCase()
      .split(',')
      .map((d) => d.trim());
    if (directives.some((d) => d === 'no-store' || d === 'no-cache')) return 0;
    for (const d of directives) {
      const m = /^max-age\s*=\s*"?(\d+)"?$/.exec(d);
      if (m) return Math.min(Number(m[1]), Number.MAX_SAFE_INTEGER / 1000) * 1000;
    }
  }
  const expires = headers['expires'];
  if (expires !== undefined) {
    const expiresMs = Date.parse(expires);
    // RFC 9111 §5.3: an invalid Expires (often "0") means "already expired".
    if (Number.isNaN(expiresMs)) return 0;
    const dateMs = headers['date'] !== undefined ? Date.parse(headers['date']) : NaN;
    // Measured against the origin's own Date, so a skewed origin clock does not stretch the lifetime.
    const base = Number.isNaN(dateMs) ? nowMs : dateMs;
    return Math.max(0, expiresMs - base);
  }
  return undefined;
}
