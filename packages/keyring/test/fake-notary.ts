/**
 * A small notary for tests on 127.0.0.1: serves its own key response and answers
 * POST /_matrix/key/v2/query with the origin responses it was given, countersigned. Knobs let a
 * test make it misbehave (sign with a key nobody pinned, tamper with an origin's keys).
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { canonicalJsonBytes, encodeBase64, signDetached, signedBytes, type JsonObject } from '@matrix-notary/protocol';
import { keyResponse, type TestKey } from './helpers';

export interface FakeNotaryOptions {
  serverName: string;
  key: TestKey;
  /** Origin key responses it can serve, by server name (several per server: all are served). */
  origins: Map<string, JsonObject[]>;
  /** Countersign query answers with this key instead of `key` (a notary whose signature is bad). */
  countersignWith?: TestKey;
  /** Changes each origin response before countersigning it (a notary that alters what origins said). */
  tamper?: (response: JsonObject) => JsonObject;
  validUntilTs?: number;
  /** How the next requests go, one entry per request: answered, HTTP 503, the connection cut, or never answered. */
  failures?: Array<'ok' | '503' | 'drop' | 'hang'>;
  /** Serve HTTPS with this certificate (from the test CA) instead of plain HTTP. */
  tls?: { certPem: string; keyPem: string };
  /** The loopback address to listen on (default 127.0.0.1). */
  host?: string;
}

export interface FakeNotary {
  url: string;
  /** Parsed bodies of the POST /query requests it received. */
  queries: JsonObject[];
  /** Every request path (with method) it received. */
  requests: string[];
  close(): Promise<void>;
}

function countersign(response: JsonObject, notaryName: string, key: TestKey): JsonObject {
  const signature = encodeBase64(signDetached(signedBytes(response), key.secretKey));
  const sigs = (response.signatures ?? {}) as Record<string, Record<string, string>>;
  return { ...response, signatures: { ...sigs, [notaryName]: { [key.keyId]: signature } } };
}

export async function startFakeNotary(options: FakeNotaryOptions): Promise<FakeNotary> {
  const queries: JsonObject[] = [];
  const requests: string[] = [];
  const own = keyResponse({ serverName: options.serverName, current: [options.key], validUntilTs: options.validUntilTs ?? Date.now() + 86_400_000 });
  const failures = [...(options.failures ?? [])];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    requests.push(`${req.method} ${req.url}`);
    const failure = failures.shift();
    if (failure === 'drop') return void req.socket.destroy();
    if (failure === 'hang') return;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: unknown): void => {
        const bytes = canonicalJsonBytes(body);
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': bytes.length });
        res.end(bytes);
      };
      if (failure === '503') return send(503, { errcode: 'M_UNKNOWN', error: 'try later' });
      if (req.method === 'GET' && req.url === '/_matrix/key/v2/server') return send(200, own);
      if (req.method === 'POST' && req.url === '/_matrix/key/v2/query') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as JsonObject;
        queries.push(body);
        const asked = Object.keys((body.server_keys ?? {}) as JsonObject);
        const entries: JsonObject[] = [];
        for (const name of asked) {
          for (const response of options.origins.get(name) ?? []) {
            const tampered = options.tamper ? options.tamper(response) : response;
            entries.push(countersign(tampered, options.serverName, options.countersignWith ?? options.key));
          }
        }
        return send(200, { server_keys: entries });
      }
      return send(404, { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' });
    });
  };
  const server = options.tls ? https.createServer({ cert: options.tls.certPem, key: options.tls.keyPem }, handler) : http.createServer(handler);
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${options.tls ? 'https' : 'http'}://${host}:${port}`,
    queries,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

