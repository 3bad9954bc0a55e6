/**
 * One shared HTTPS agent for every origin: keep-alive reuse for origins asked often, a cap on
 * parallel connections per origin (`maxSockets`, per host:port:servername) and in total, and the
 * connect-time guards on every socket it opens. A plain-HTTP twin, with the same guards, serves
 * only upstream notaries an operator configured at http:// URLs.
 */
import http from 'node:http';
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

/** Connections a kept-alive agent holds open beyond the ones in use, and how they are reused. */
function poolOptions(opts: GuardedAgentOptions): http.AgentOptions {
  return {
    keepAlive: true,
    maxSockets: opts.maxSocketsPerOrigin,
    maxTotalSockets: opts.maxSocketsTotal,
    maxFreeSockets: MAX_FREE_SOCKETS_PER_ORIGIN,
    scheduling: 'lifo',
    timeout: IDLE_SOCKET_TIMEOUT_MS,
    // Agent options override request options: no request can swap in another lookup.
    lookup: opts.lookup,
  };
}

/** Sockets each agent opened that are not closed yet (in use or idle): counted, not scanned per request. */
const openSockets = new WeakMap<http.Agent, number>();

/**
 * At the total cap, closes one idle connection of another destination. Node's agent counts idle
 * keep-alive sockets against maxTotalSockets and would otherwise make a request to a new origin
 * wait until one of them times out.
 */
function makeRoom(agent: http.Agent, maxSocketsTotal: number, request: http.RequestOptions): void {
  if ((openSockets.get(agent) ?? 0) < maxSocketsTotal) return;
  const name = agent.getName({ ...request, ...(agent as unknown as { options: http.RequestOptions }).options });
  if ((agent.freeSockets[name]?.length ?? 0) > 0) return; // this destination's own idle socket will be reused
  for (const list of Object.values(agent.freeSockets)) {
    const idle = list?.[0];
    if (idle) {
      idle.destroy();
      return;
    }
  }
}

/**
 * The connect-time guards of a new socket: the address filter on the address connected to, and a
 * limit on the time to `readyEvent` (TLS done, or for plain HTTP the TCP connect).
 */
function guardNewSocket(
  agent: http.Agent,
  socket: Socket,
  options: http.RequestOptions,
  policy: AddressPolicy,
  connectTimeoutMs: number,
  readyEvent: 'secureConnect' | 'connect',
): void {
  guardSocket(socket, policy);
  openSockets.set(agent, (openSockets.get(agent) ?? 0) + 1);
  socket.once('close', () => openSockets.set(agent, (openSockets.get(agent) ?? 1) - 1));
  const where = `${options.host ?? '?'}:${options.port ?? '?'}`;
  const what = readyEvent === 'secureConnect' ? 'TCP and TLS connection' : 'TCP connection';
  const timer = setTimeout(() => {
    socket.destroy(new OriginFetchError('connect_timeout', `${where}: no ${what} within ${connectTimeoutMs} ms`));
  }, connectTimeoutMs);
  const clear = (): void => clearTimeout(timer);
  socket.once(readyEvent, clear);
  socket.once('close', clear);
}

export class GuardedAgent extends https.Agent {
  private readonly policy: AddressPolicy;
  private readonly connectTimeoutMs: number;
  private readonly maxSocketsTotal: number;

  constructor(opts: GuardedAgentOptions) {
    super({
      ...poolOptions(opts),
      ...(opts.secureContext ? { secureContext: opts.secureContext } : {}),
      rejectUnauthorized: true,
    });
    this.policy = opts.policy;
    this.connectTimeoutMs = opts.connectTimeoutMs;
    this.maxSocketsTotal = opts.maxSocketsTotal;
  }

  makeRoomFor(request: https.RequestOptions): void {
    makeRoom(this, this.maxSocketsTotal, request);
  }

  override createConnection(
    options: https.RequestOptions,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    const socket = super.createConnection(options, callback) as Socket | null | undefined;
    if (socket) guardNewSocket(this, socket, options, this.policy, this.connectTimeoutMs, 'secureConnect');
    return socket;
  }
}

/** The plain-HTTP twin of GuardedAgent, for upstream notaries at http:// URLs; never for origins. */
export class GuardedHttpAgent extends http.Agent {
  private readonly policy: AddressPolicy;
  private readonly connectTimeoutMs: number;
  private readonly maxSocketsTotal: number;

  constructor(opts: Omit<GuardedAgentOptions, 'secureContext'>) {
    super(poolOptions(opts));
    this.policy = opts.policy;
    this.connectTimeoutMs = opts.connectTimeoutMs;
    this.maxSocketsTotal = opts.maxSocketsTotal;
  }

  makeRoomFor(request: http.RequestOptions): void {
    makeRoom(this, this.maxSocketsTotal, request);
  }

  override createConnection(
    options: http.ClientRequestArgs,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    const socket = (super.createConnection as (o: http.ClientRequestArgs, c?: typeof callback) => Duplex | null | undefined)(
      options,
      callback,
    ) as Socket | null | undefined;
    if (socket) guardNewSocket(this, socket, options, this.policy, this.connectTimeoutMs, 'connect');
    return socket;
  }
}
