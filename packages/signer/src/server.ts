/**
 * The signer role's internal HTTP API (split roles only; `all` keeps the signer in-process). Two
 * operations behind a bearer token, nothing else: the notary's own key response, and the
 * countersignature of an origin's key response. Plain node:http: two fixed routes need no router.
 * Bodies are read and errors written the way the api does it (readRequestBody, sendMatrixError).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, type Registry } from 'prom-client';
import { MatrixError, readRequestBody, sendMatrixError, unrecognized } from '@matrix-notary/common';
import {
  COUNTERSIGN_PATH,
  HEALTH_PATH,
  OWN_KEYS_PATH,
  SignerRefusedError,
  type NotarySigner,
  type SignerErrorBody,
} from '@matrix-notary/signer-client';
import type { Logger } from 'pino';

export interface SignerServerOptions {
  signer: NotarySigner;
  port: number;
  bind: string;
  /** The bearer token every request but the health probe must carry (NOTARY_SIGNER_TOKEN). */
  token: string;
  /**
   * Size cap on a countersign request body: an origin's key response as the worker fetched it, so
   * the role passes NOTARY_MAX_ORIGIN_RESPONSE_BYTES (NOTARY_MAX_BODY_BYTES caps the api's clients).
   */
  maxBodyBytes: number;
  logger: Logger;
  registry?: Registry;
}

export interface RunningSignerServer {
  /** The port listened on (the real one when 0 was asked). */
  port: number;
  stop(): Promise<void>;
}

export const SIGNER_OPERATIONS_METRIC = 'matrix_notary_signer_operations_total';

type Operation = 'own_keys' | 'countersign';
type Outcome = 'ok' | 'refused' | 'unauthorized' | 'too_large' | 'error';

/**
 * After answering 413 the rest of the body is read and dropped for at most this long, then the
 * connection is cut: closing a socket with unread input makes the kernel send a reset that can
 * destroy the 413 before the client reads it.
 */
const DISCARD_BODY_MS = 5000;

/** Every answer of the signer is private to its caller: no cache may keep one. */
const NO_STORE = ['cache-control', 'no-store'];

function sendBytes(res: http.ServerResponse, status: number, body: Buffer): void {
  res.writeHead(status, ['content-type', 'application/json', 'content-length', String(body.length), ...NO_STORE]);
  res.end(body);
}

function sendError(res: http.ServerResponse, error: MatrixError, headers: readonly string[] = []): void {
  sendMatrixError(res, error, [...NO_STORE, ...headers]);
}

const notAllowed = (allow: 'GET' | 'POST'): [MatrixError, string[]] => [unrecognized(405, 'method not allowed'), ['allow', allow]];

/** Digests first, so the comparison takes the same time whatever the lengths and contents. */
function tokensEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function checkAuth(req: http.IncomingMessage, token: string): 'ok' | 'missing' | 'wrong' {
  const header = req.headers.authorization;
  if (header === undefined) return 'missing';
  const match = /^Bearer +(\S+) *$/i.exec(header);
  if (match === null) return 'missing';
  return tokensEqual(match[1], token) ? 'ok' : 'wrong';
}

/** Drops the rest of a body we will not read, for a bounded time (see DISCARD_BODY_MS). */
function discardBody(req: http.IncomingMessage): void {
  if (req.complete) return;
  const timer = setTimeout(() => req.socket.destroy(), DISCARD_BODY_MS);
  timer.unref();
  req.on('end', () => clearTimeout(timer));
  req.on('close', () => clearTimeout(timer));
  req.resume();
}

function operationsCounter(registry: Registry | undefined): Counter<'operation' | 'outcome'> | undefined {
  if (!registry) return undefined;
  // Two servers may share a registry (tests, or a process restarting its listener).
  const existing = registry.getSingleMetric(SIGNER_OPERATIONS_METRIC);
  if (existing) return existing as Counter<'operation' | 'outcome'>;
  return new Counter({
    name: SIGNER_OPERATIONS_METRIC,
    help: 'Signer API operations, by operation (own_keys, countersign) and outcome (ok, refused, unauthorized, too_large, error).',
    labelNames: ['operation', 'outcome'],
    registers: [registry],
  });
}

export async function startSignerServer(options: SignerServerOptions): Promise<RunningSignerServer> {
  const { signer, token, maxBodyBytes, logger } = options;
  if (typeof token !== 'string' || token.length === 0) {
    throw new Error('the signer needs a non-empty bearer token (NOTARY_SIGNER_TOKEN)');
  }
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes <= 0) {
    throw new Error('maxBodyBytes must be a positive integer');
  }
  const counter = operationsCounter(options.registry);
  const count = (operation: Operation, outcome: Outcome): void => counter?.inc({ operation, outcome });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    const operation: Operation | undefined =
      path === OWN_KEYS_PATH ? 'own_keys' : path === COUNTERSIGN_PATH ? 'countersign' : undefined;

    if (path === HEALTH_PATH) {
      if (req.method !== 'GET') return sendError(res, ...notAllowed('GET'));
      return sendBytes(res, 200, Buffer.from('{"ok":true}'));
    }

    // Every other request needs the token, before anything about the API is revealed.
    const auth = checkAuth(req, token);
    if (auth !== 'ok') {
      if (operation) count(operation, 'unauthorized');
      logger.warn({ method: req.method, path, auth }, 'signer request without a valid token');
      discardBody(req);
      return auth === 'missing'
        ? sendError(res, new MatrixError(401, 'M_MISSING_TOKEN', 'missing access token: send Authorization: Bearer <NOTARY_SIGNER_TOKEN>'))
        : sendError(res, new MatrixError(401, 'M_UNKNOWN_TOKEN', 'unrecognised access token: check NOTARY_SIGNER_TOKEN'));
    }

    if (operation === undefined) {
      discardBody(req);
      return sendError(res, unrecognized(404, 'unrecognized request'));
    }
    const allowed = operation === 'own_keys' ? 'GET' : 'POST';
    if (req.method !== allowed) {
      discardBody(req);
      return sendError(res, ...notAllowed(allowed));
    }

    if (operation === 'own_keys') {
      const own = await signer.ownKeys();
      count('own_keys', 'ok');
      return sendBytes(res, 200, own.bytes);
    }

    let body: Buffer;
    try {
      body = await readRequestBody(req, maxBodyBytes);
    } catch (err) {
      if (!(err instanceof MatrixError && err.status === 413)) throw err;
      count('countersign', 'too_large');
      logger.info({ maxBodyBytes }, 'countersign request body over the size limit');
      discardBody(req);
      return sendError(res, err);
    }
    try {
      const signed = await signer.countersign(body);
      count('countersign', 'ok');
      return sendBytes(res, 200, signed);
    } catch (err) {
      if (!(err instanceof SignerRefusedError)) throw err;
      count('countersign', 'refused');
      logger.info({ reason: err.reason }, 'countersignature refused');
      const refusal: Pick<SignerErrorBody, 'reason'> = { reason: err.reason };
      return sendError(res, new MatrixError(400, 'M_NOT_SIGNABLE', err.message, refusal));
    }
  }

  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      logger.debug({ method: req.method, path, status: res.statusCode, ms }, 'signer request');
    });
    handle(req, res).catch((err: unknown) => {
      const operation = path === OWN_KEYS_PATH ? 'own_keys' : path === COUNTERSIGN_PATH ? 'countersign' : undefined;
      if (operation) count(operation, 'error');
      // The message only: errors here come from our own code and hold no key material, but a
      // stack or a whole error object could carry request data into the log.
      logger.error({ path, err: err instanceof Error ? `${err.name}: ${err.message}` : String(err) }, 'signer request failed');
      sendError(res, new MatrixError(500, 'M_UNKNOWN', 'internal error in the signer; see its log'));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.bind, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    port,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
