/**
 * The one way the notary's HTTP servers (the api's key routes, its Express fallback, the signer)
 * answer with a Matrix error: the error's status and JSON body, and the headers the error itself
 * implies (Retry-After for a 429 that says when). A flat header array is the cheapest form for
 * Node to serialise; callers add their own headers (Allow, Connection) the same way.
 */
import type { ServerResponse } from 'node:http';
import type { MatrixError } from './errors';

const NO_HEADERS: readonly string[] = [];

export function sendMatrixError(res: ServerResponse, error: MatrixError, headers: readonly string[] = NO_HEADERS): void {
  if (res.headersSent) {
    // Part of another answer is on the wire: cutting the connection is the only honest ending.
    res.destroy();
    return;
  }
  const body = error.bodyBytes();
  const head = ['content-type', 'application/json', 'content-length', String(body.length), ...headers];
  const retryAfterMs = error.extra.retry_after_ms;
  if (typeof retryAfterMs === 'number') head.push('retry-after', String(Math.ceil(retryAfterMs / 1000)));
  res.writeHead(error.status, head);
  res.end(body);
}
