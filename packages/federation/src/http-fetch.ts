/**
 * One request through a guarded agent, with every limit applied; redirects are returned, never
 * followed. Origins get HTTPS GETs; an operator's upstream notary may be asked with a POST, over
 * plain HTTP too (its answers are trusted for its pinned keys' signatures, not for the channel).
 */
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import tls, { type PeerCertificate } from 'node:tls';
import { isForbiddenAddress, type AddressPolicy } from './address-filter';
import type { GuardedAgent, GuardedHttpAgent } from './agent';
import type { Deadline } from './deadline';
import { OriginFetchError, toOriginFetchError } from './errors';

export interface OriginRequest {
  /** Where to connect: an IP literal, or a DNS name that the agent's guarded lookup resolves. */
  connectHost: string;
  port: number;
  path: string;
  hostHeader: string;
  /** The DNS name or IP address the certificate must be valid for; also the SNI when a name. */
  certName: string;
  maxBytes: number;
  deadline: Deadline;
  /** Statuses whose body is read; the body of any other is discarded unread. */
  readBodyOf: (statusCode: number) => boolean;
  /** GET unless said otherwise. */
  method?: 'GET' | 'POST';
  /** A JSON body to send. */
  body?: Buffer;
}

/** HTTPS through the TLS agent, or (upstream notaries at http:// URLs only) plain HTTP. */
export type RequestAgent = { secure: true; agent: GuardedAgent } | { secure: false; agent: GuardedHttpAgent };

export interface OriginResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The address and port actually connected to. */
  address: string;
  port: number;
}

const USER_AGENT = 'matrix-notary';

export function guardedRequest(via: RequestAgent, policy: AddressPolicy, r: OriginRequest): Promise<OriginResponse> {
  const scheme = via.secure ? 'https' : 'http';
  const where = `${scheme}://${r.hostHeader}${r.path} (via ${isIP(r.connectHost) === 6 ? `[${r.connectHost}]` : r.connectHost}:${r.port})`;
  // An IP literal skips the lookup, so it is judged here before any packet is sent.
  if (isIP(r.connectHost) !== 0 && isForbiddenAddress(r.connectHost, policy)) {
    return Promise.reject(new OriginFetchError('forbidden_address', `${where}: ${r.connectHost} is a forbidden address`));
  }
  const signal = r.deadline.signal;
  if (signal.aborted) return Promise.reject(signal.reason);

  return new Promise<OriginResponse>((resolve, reject) => {
    let settled = false;
    const finish = (err: unknown, value?: OriginResponse): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      if (err === undefined) resolve(value!);
      else reject(toOriginFetchError(err, where));
    };
    const headers: http.OutgoingHttpHeaders = { Host: r.hostHeader, Accept: 'application/json', 'User-Agent': USER_AGENT };
    if (r.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = r.body.length;
    }
    const options: https.RequestOptions = {
      agent: via.agent,
      host: r.connectHost,
      port: r.port,
      path: r.path,
      method: r.method ?? 'GET',
      headers,
    };
    if (via.secure) {
      // RFC 6066 forbids an IP address as SNI; '' also stops Node from deriving one from Host.
      options.servername = isIP(r.certName) === 0 ? r.certName : '';
      options.checkServerIdentity = (_host: string, cert: PeerCertificate) => tls.checkServerIdentity(r.certName, cert);
    }
    via.agent.makeRoomFor(options);
    const req = via.secure ? https.request(options) : http.request(options);
    // Settle first, then destroy: once a response has started, Node reports a destroyed request
    // as a generic "aborted" on the response, which would hide the real reason. No error is
    // passed on to the socket: a plain-HTTP socket whose response is already complete has no
    // 'error' listener left, and the error is the promise's alone.
    const fail = (err: Error): void => {
      finish(err);
      req.destroy();
    };
    const onAbort = (): void => fail(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    req.on('error', (err) => finish(err));
    req.on('response', (res: IncomingMessage) => {
      const statusCode = res.statusCode ?? 0;
      const socket = res.socket;
      const address = socket.remoteAddress ?? '';
      const port = socket.remotePort ?? r.port;
      if (!r.readBodyOf(statusCode)) {
        // Unread bodies are not drained: an origin could make that endless. The socket goes with it.
        res.destroy();
        finish(undefined, { statusCode, headers: res.headers, body: Buffer.alloc(0), address, port });
        return;
      }
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > r.maxBytes) {
        fail(new OriginFetchError('too_large', `${where}: Content-Length ${declared} is over the ${r.maxBytes}-byte limit`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > r.maxBytes) {
          fail(new OriginFetchError('too_large', `${where}: response body over the ${r.maxBytes}-byte limit`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => finish(undefined, { statusCode, headers: res.headers, body: Buffer.concat(chunks, size), address, port }));
      res.on('error', (err) => finish(err));
      res.on('close', () => {
        if (!res.complete) finish(new OriginFetchError('connection', `${where}: connection closed before the response ended`));
      });
    });
    req.end(r.body);
  });
}
