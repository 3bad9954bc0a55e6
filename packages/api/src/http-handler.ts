/**
 * The public request handler. The key routes are matched here by plain string tests and answered
 * with writeHead/end; everything else goes to the Express app. This keeps a cache hit at the cost
 * of a bare node:http server plus one Redis round trip (see DESIGN's performance budget).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { internalError, MatrixError, notJson, unrecognized, type Logger } from '@matrix-notary/common';
import { parseGetQuery, parsePostQuery, type QueryLimits } from './key-query';
import type { ApiMetrics, RouteLabel } from './metrics';
import type { OwnKeysCache } from './own-keys-cache';
import type { QueryService } from './query-service';
import { readBody } from './read-body';

export const SERVER_PATH = '/_matrix/key/v2/server';
export const QUERY_PATH = '/_matrix/key/v2/query';

export interface HandlerDeps {
  query: QueryService;
  ownKeys: OwnKeysCache;
  limits: QueryLimits;
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

export function createRequestHandler(deps: HandlerDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const now = deps.now ?? Date.now;

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
      send(res, error.status, error.bodyBytes());
    } else {
      res.destroy();
    }
    finish(route, req, started, error.status);
  };

  const serveServerKeys = async (req: IncomingMessage, res: ServerResponse, path: string, started: number) => {
    // `/server/{keyId}` is the deprecated form; the key ID was never used to filter the answer.
    const rest = path.slice(SERVER_PATH.length);
    if (rest !== '' && (rest.indexOf('/', 1) >= 0 || !rest.startsWith('/'))) throw unrecognized(404);
    if (req.method !== 'GET' && req.method !== 'HEAD') throw unrecognized(405);
    send(res, 200, deps.ownKeys.current() ?? (await deps.ownKeys.get()));
    finish('server', req, started, 200);
  };

  const serveGetQuery = async (req: IncomingMessage, res: ServerResponse, path: string, search: string, started: number) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw unrecognized(405);
    const q = parseGetQuery(path.slice(QUERY_PATH.length + 1), search, now());
    send(res, 200, await deps.query.answer([q]));
    finish('query_get', req, started, 200);
  };

  const servePostQuery = async (req: IncomingMessage, res: ServerResponse, started: number) => {
    if (req.method !== 'POST') throw unrecognized(405);
    const raw = await readBody(req, deps.maxBodyBytes);
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      throw notJson();
    }
    const queries = parsePostQuery(body, deps.limits, now());
    send(res, 200, await deps.query.answer(queries));
    finish('query_post', req, started, 200);
  };

  return (req, res) => {
    const started = performance.now();
    const url = req.url ?? '/';
    const qmark = url.indexOf('?');
    const path = qmark < 0 ? url : url.slice(0, qmark);
    const search = qmark < 0 ? '' : url.slice(qmark + 1);

    if (path === QUERY_PATH) {
      servePostQuery(req, res, started).catch((err) => fail('query_post', req, res, started, err));
    } else if (path.startsWith(QUERY_PATH + '/')) {
      serveGetQuery(req, res, path, search, started).catch((err) => fail('query_get', req, res, started, err));
    } else if (path === SERVER_PATH || path.startsWith(SERVER_PATH + '/')) {
      serveServerKeys(req, res, path, started).catch((err) => fail('server', req, res, started, err));
    } else {
      res.once('finish', () => finish('other', req, started, res.statusCode));
      deps.fallback(req, res);
    }
  };
}
