/**
 * One shared HTTPS agent for every origin: keep-alive reuse for origins asked often, a cap on
 * parallel connections per origin (`maxSockets`, per host:port:servername) and in total, and the
 * connect-time guards on every socket it opens.
 */
import https from 'node:https';
import type { LookupFunction, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type tls from 'node:tls';
import type { AddressPolicy } from './address-filter';
import { guardSocket } from './connect-guard';
import { OriginFetchError } from './errors';

export const DEFAULT_MAX_SOCKETS_PER_ORIGIN = 4;
export const DEFAULT_MAX_SOCKETS_TOTAL = 256;
/** Idle keep-alive sockets are closed after this, so they do not hold slots other origins wait for. */
export const IDLE_SOCKET_TIMEOUT_MS = 15_000;
const MAX_FREE_SOCKETS_PER_ORIGIN = 2;

export interface GuardedAgentOptions {
  policy: AddressPolicy;
  lookup: LookupFunction;
  connectTimeoutMs: number;
  maxSocketsPerOrigin: number;
  maxSocketsTotal: number;
  secureContext?: tls.SecureContext;
}

export class GuardedAgent extends https.Agent {
  private readonly policy: AddressPolicy;
  private readonly connectTimeoutMs: number;
  private readonly maxSocketsTotal: number;
  /** Sockets this agent opened that are not closed yet (in use or idle): counted, not scanned. */
  private openSockets = 0;

  constructor(opts: GuardedAgentOptions) {
    super({
      keepAlive: true,
      maxSockets: opts.maxSocketsPerOrigin,
      maxTotalSockets: opts.maxSocketsTotal,
      maxFreeSockets: MAX_FREE_SOCKETS_PER_ORIGIN,
      scheduling: 'lifo',
      timeout: IDLE_SOCKET_TIMEOUT_MS,
      // Agent options override request options: no request can swap in another lookup or trust store.
      lookup: opts.lookup,
      ...(opts.secureContext ? { secureContext: opts.secureContext } : {}),
      rejectUnauthorized: true,
    });
    this.policy = opts.policy;
    this.connectTimeoutMs = opts.connectTimeoutMs;
    this.maxSocketsTotal = opts.maxSocketsTotal;
  }

  /**
   * At the total cap, closes one idle connection of another origin. Node's agent counts idle
   * keep-alive sockets against maxTotalSockets and would otherwise make a request to a new origin
   * wait until one of them times out.
   */
  makeRoomFor(request: https.RequestOptions): void {
    if (this.openSockets < this.maxSocketsTotal) return;
    const name = this.getName({ ...request, ...this.options });
    if ((this.freeSockets[name]?.length ?? 0) > 0) return; // this origin's own idle socket will be reused
    for (const list of Object.values(this.freeSockets)) {
      const idle = list?.[0];
      if (idle) {
        idle.destroy();
        return;
      }
    }
  }

  override createConnection(
    options: https.RequestOptions,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    const socket = super.createConnection(options, callback) as Socket | null | undefined;
    if (!socket) return socket;
    guardSocket(socket, this.policy);
    this.openSockets++;
    socket.once('close', () => this.openSockets--);
    const where = `${options.host ?? '?'}:${options.port ?? '?'}`;
    const timer = setTimeout(() => {
      socket.destroy(
        new OriginFetchError('connect_timeout', `${where}: no TCP and TLS connection within ${this.connectTimeoutMs} ms`),
      );
    }, this.connectTimeoutMs);
    const clear = (): void => clearTimeout(timer);
    socket.once('secureConnect', clear);
    socket.once('close', clear);
    return socket;
  }
}
