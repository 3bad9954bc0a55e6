/**
 * The public request handler. The key routes are matched here by plain string tests and answered
 * with writeHead/end; everything else goes to the Express app. This keeps a cache hit at the cost
 * of a bare node:http server plus one Redis round trip (see DESIGN's performance budget).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { badJson, internalError, MatrixError, notJson, unrecognized, type Logger } from '@matrix-notary/common';
import { checkJsonNumbers } from '@matrix-notary/protocol';
import type { ClientIdentifier } from './client-address';
import type { ClientLimits } from './client-limits';
import { parseGetQuery, parseServerCriteria, postQueryServers, type QueryLimits, type ServerKeyQuery } from './key-query';
import type { ApiMetrics, RouteLabel } from './metrics';
import type { OwnKeysCache } from './own-keys-cache';
import type { QueryService } from './query-service';
import { readBodyOrMatrixError } from './read-body';
import { nextTurn, SLICE_SERVERS } from './work-slices';

export const SERVER_PATH = '/_matrix/key/v2/server';
/** A body over this (a query of some 250 servers) waits for its turn before it is parsed. */
const BIG_BODY_BYTES = 16 * 1024;
export const QUERY_PATH = '/_matrix/key/v2/query';

export interface HandlerDeps {
  query: QueryService;
  ownKeys: OwnKeysCache;
  limits: QueryLimits;
  clients: ClientIdentifier;
  clientLimits: ClientLimits;
  /** NOTARY_FETCH_WAIT_MS: how long after it arrives a query must be answered. */
  fetchWaitMs: number;
  maxBodyBytes: number;
  metrics: ApiMetrics;
  logger: Logger;
  fallback: (req: IncomingMessage, res: ServerResponse) => void;
  now?: () => number;
}

function send(res: ServerResponse, status: number, body: Buffer): void {
  // A flat header array is the cheapest form for Node to serialise (no object to walk).
  res.writeHead(status, ['content-type', 'application/json', 'content-length', String(body.length)]);
  res.end(body);
}

const MISSING_HOST = new MatrixError(400, 'M_UNRECOGNIZED', 'an HTTP/1.1 request must carry a Host header');

/** 429 M_LIMIT_EXCEEDED, saying when to try again (in the body and in Retry-After). */
export function limitExceeded(retryAfterMs: number): MatrixError {
  return new MatrixError(429, 'M_LIMIT_EXCEEDED', 'Too many requests from this client: slow down', { retry_after_ms: retryAfterMs });
}

export function createRequestHandler(deps: HandlerDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const now = deps.now ?? Date.now;
  // The recorders of the answers served synchronously, made once.
  const getHit = deps.metrics.recorder('query_get', 'GET', 200);
  const serverHit = deps.metrics.recorder('server', 'GET', 200);

  const finish = (route: RouteLabel, req: IncomingMessage, started: number, status: number) => {
    deps.metrics.observeRequest(route, req.method === 'POST' ? 'POST' : 'GET', status, (performance.now() - started) / 1000);
  };

  const fail = (route: RouteLabel, req: IncomingMessage, res: ServerResponse, started: number, err: unknown) => {
    let error: MatrixError;
    if (err instanceof MatrixError) {
      error = err;
    } else {
      error = internalError();
      deps.logger.error({ err: (err as Error)?.message, route }, 'unexpected error answering a key request');
    }
    if (!res.headersSent) {
      if (error.status === 413) res.setHeader('connection', 'close');
      const retryAfterMs = error.extra.retry_after_ms;
      if (typeof retryAfterMs === 'number') res.setHeader('retry-after', String(Math.ceil(retryAfterMs / 1000)));
      send(res, error.status, error.bodyBytes());
    } else {
      res.destroy();
    }
    finish(route, req, started, error.status);
  };

  /** Counts the request against its client's limit; throws 429 when it is over. */
  const admit = async (req: IncomingMessage) => {
    const client = deps.clients.identify(req);
    if (!client.unlimited) {
      const verdict = await deps.clientLimits.admitRequest(client);
      if (!verdict.ok) throw limitExceeded(verdict.retryAfterMs);
    }
    return client;
  };

  const serveServerKeys = async (req: IncomingMessage, res: ServerResponse, path: string, started: number) => {
    // `/server/{keyId}` is the deprecated form; the key ID was never used to filter the answer.
    const rest = path.slice(SERVER_PATH.length);
    if (rest !== '' && (rest.indexOf('/', 1) >= 0 || !rest.startsWith('/'))) throw unrecognized(404);
    if (req.method !== 'GET' && req.method !== 'HEAD') throw unrecognized(405);
    await admit(req);
    send(res, 200, deps.ownKeys.current() ?? (await deps.ownKeys.get()));
    finish('server', req, started, 200);
  };

  const serveGetQuery = async (req: IncomingMessage, res: ServerResponse, path: string, search: string, started: number) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw unrecognized(405);
    const client = await admit(req);
    const arrived = now();
    const q = parseGetQuery(path.slice(QUERY_PATH.length + 1), search, arrived);
    send(res, 200, await deps.query.answer([q], client, arrived + deps.fetchWaitMs));
    finish('query_get', req, started, 200);
  };

  const servePostQuery = async (req: IncomingMessage, res: ServerResponse, started: number) => {
    if (req.method !== 'POST') throw unrecognized(405);
    const client = await admit(req);
    const raw = await readBodyOrMatrixError(req, deps.maxBodyBytes);
    // The fetch wait runs from when the query is complete: a slow sender's upload is not ours.
    const arrived = now();
    // Parsing a big body is a slice of its own: many arriving at once must not run back to back.
    if (raw.length > BIG_BODY_BYTES) await nextTurn();
    const text = raw.toString('utf8');
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw notJson();
    }
    try {
      // JSON.parse reads 1.0 and 1e2 as the integers 1 and 100; the protocol's integers are
      // written as integers, so such a body is refused rather than silently reinterpreted.
      checkJsonNumbers(text);
    } catch (err) {
      throw badJson(`${(err as Error).message}: numbers in a key query are integers written as integers`);
    }
    const servers = postQueryServers(body, deps.limits);
    const queries: ServerKeyQuery[] = new Array(servers.length);
    for (let i = 0; i < servers.length; i++) {
      if (i > 0 && i % SLICE_SERVERS === 0) await nextTurn();
      queries[i] = parseServerCriteria(servers[i][0], servers[i][1], deps.limits, arrived);
    }
    send(res, 200, await deps.query.answer(queries, client, arrived + deps.fetchWaitMs));
    finish('query_post', req, started, 200);
  };

  /**
   * A cache hit from an unlimited client (a homeserver of the operator's), answered without a
   * promise, an await or a closure: most of a notary's traffic. False when the async path must
   * answer (anything else, errors included).
   */
  const servedAtOnce = (req: IncomingMessage, res: ServerResponse, path: string, search: string, started: number): boolean => {
    if (req.method !== 'GET' || !deps.clients.identify(req).unlimited) return false;
    if (path === SERVER_PATH) {
      const own = deps.ownKeys.current();
      if (own === undefined) return false;
      send(res, 200, own);
      serverHit.record((performance.now() - started) / 1000);
      return true;
    }
    let q;
    try {
      q = parseGetQuery(path.slice(QUERY_PATH.length + 1), search, now());
    } catch {
      return false; // the async path says what is wrong
    }
    const answer = deps.query.answerFromPod(q);
    if (answer === undefined) return false;
    send(res, 200, answer);
    getHit.record((performance.now() - started) / 1000);
    return true;
  };

  return (req, res) => {
    const started = performance.now();
    // HTTP/1.1 requires a Host header (RFC 9112, 3.2); Node's own check, which the server turns off,
    // would answer without a Matrix error body. Node reads the header for its check anyway.
    if (req.httpVersionMinor === 1 && req.httpVersionMajor === 1 && req.headers.host === undefined) {
      res.setHeader('connection', 'close');
      send(res, 400, MISSING_HOST.bodyBytes());
      finish('other', req, started, 400);
      return;
    }
    const url = req.url ?? '/';
    const qmark = url.indexOf('?');
    const path = qmark < 0 ? url : url.slice(0, qmark);
    const search = qmark < 0 ? '' : url.slice(qmark + 1);

    if (path === QUERY_PATH) {
      servePostQuery(req, res, started).catch((err) => fail('query_post', req, res, started, err));
    } else if (path.startsWith(QUERY_PATH + '/')) {
      if (servedAtOnce(req, res, path, search, started)) return;
      serveGetQuery(req, res, path, search, started).catch((err) => fail('query_get', req, res, started, err));
    } else if (path === SERVER_PATH || path.startsWith(SERVER_PATH + '/')) {
      if (path === SERVER_PATH && servedAtOnce(req, res, path, search, started)) return;
      serveServerKeys(req, res, path, started).catch((err) => fail('server', req, res, started, err));
    } else {
      res.once('finish', () => finish('other', req, started, res.statusCode));
      deps.fallback(req, res);
    }
  };
}
