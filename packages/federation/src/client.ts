/**
 * The federation client: fetches an origin's `GET /_matrix/key/v2/server` through the spec's server
 * discovery, refusing whatever a hostile origin could use against the notary. It does not judge the
 * JSON: that is the worker's job.
 */
import type { Registry } from 'prom-client';
import { createAddressPolicy, type AddressPolicy } from './address-filter';
import { DEFAULT_MAX_SOCKETS_PER_ORIGIN, DEFAULT_MAX_SOCKETS_TOTAL, GuardedAgent, GuardedHttpAgent } from './agent';
import { createGuardedLookup } from './connect-guard';
import { Deadline } from './deadline';
import { discoverTargets, type DiscoveryStep, type OriginTarget } from './discovery';
import { createNameResolver, type NameResolver } from './dns-resolver';
import { parseDnsServers, silentLogger, type Logger } from '@matrix-notary/common';
import { OriginFetchError, toOriginFetchError, type OriginFetchReason } from './errors';
import { guardedRequest, type OriginRequest, type OriginResponse } from './http-fetch';
import { FederationMetrics } from './metrics';
import { createTrustContext } from './tls-trust';
import { WellKnownResolver } from './well-known';
import type { OriginFetchSettings } from '@matrix-notary/common';

export const SERVER_KEYS_PATH = '/_matrix/key/v2/server';

/**
 * The origin-fetch settings every role reads from the same variables (see common's
 * OriginFetchSettings for each field's meaning), plus what only a running client needs.
 */
export interface FederationClientOptions extends Omit<OriginFetchSettings, 'dnsServers'> {
  /** NOTARY_DNS_SERVERS entries (`ip`, `ip:port`, `[v6]:port`); absent or empty: the system's resolver. */
  dnsServers?: string[];
  logger?: Logger;
  registry?: Registry;
  maxSocketsPerOrigin?: number;
  maxSocketsTotal?: number;
  /** The clock of the `.well-known` and DNS caches, in ms; tests move it. Default Date.now. */
  now?: () => number;
}

export interface FetchedServerKeys {
  /** The raw response body, at most maxResponseBytes. */
  body: Buffer;
  statusCode: number;
  /** The address and port actually connected to. */
  address: string;
  port: number;
  /** The Host header sent. */
  host: string;
  /** The discovery step that found the origin. */
  step: DiscoveryStep;
}

// Failures after which the next SRV target is worth a try; anything else would fail there too or
// has used up the time.
const NEXT_TARGET_REASONS: ReadonlySet<OriginFetchReason> = new Set(['connection', 'connect_timeout', 'forbidden_address', 'dns']);

export class FederationClient {
  private readonly policy: AddressPolicy;
  private readonly agent: GuardedAgent;
  /** Made at the first request to an http:// upstream notary: origins are only ever HTTPS. */
  private plainAgent?: GuardedHttpAgent;
  private readonly lookup: ReturnType<typeof createGuardedLookup>;
  private readonly resolver: NameResolver;
  private readonly wellKnown: WellKnownResolver;
  private readonly metrics: FederationMetrics;
  private readonly logger: Logger;
  private readonly reported = new WeakSet<OriginFetchError>();

  constructor(private readonly opts: FederationClientOptions) {
    requirePositiveInteger('connectTimeoutMs (NOTARY_ORIGIN_CONNECT_TIMEOUT_MS)', opts.connectTimeoutMs);
    requirePositiveInteger('totalTimeoutMs (NOTARY_ORIGIN_TIMEOUT_MS)', opts.totalTimeoutMs);
    requirePositiveInteger('maxResponseBytes (NOTARY_MAX_ORIGIN_RESPONSE_BYTES)', opts.maxResponseBytes);
    const maxSocketsPerOrigin = opts.maxSocketsPerOrigin ?? DEFAULT_MAX_SOCKETS_PER_ORIGIN;
    const maxSocketsTotal = opts.maxSocketsTotal ?? DEFAULT_MAX_SOCKETS_TOTAL;
    requirePositiveInteger('maxSocketsPerOrigin', maxSocketsPerOrigin);
    requirePositiveInteger('maxSocketsTotal', maxSocketsTotal);

    const now = opts.now ?? Date.now;
    this.logger = opts.logger ?? silentLogger();
    this.metrics = new FederationMetrics(opts.registry);
    this.policy = createAddressPolicy(opts);
    this.resolver = createNameResolver({
      dnsServers: parseDnsServers((opts.dnsServers ?? []).join(',')),
      timeoutMs: opts.connectTimeoutMs,
      now,
    });
    this.lookup = createGuardedLookup(this.resolver, this.policy);
    this.agent = new GuardedAgent({
      policy: this.policy,
      lookup: this.lookup,
      connectTimeoutMs: opts.connectTimeoutMs,
      maxSocketsPerOrigin,
      maxSocketsTotal,
      secureContext: createTrustContext(opts.extraCaPem),
    });
    this.wellKnown = new WellKnownResolver({
      get: (r) => this.get(r),
      now,
      onRefused: (err, hostname) => this.reportRefusal(err, hostname, 'the .well-known lookup'),
      onFailed: (why, hostname) =>
        this.logger.debug({ serverName: hostname }, `no .well-known delegation for ${hostname}: ${why}`),
    });
  }

  /**
   * Resolves with the origin's 200 response and its complete body; rejects with OriginFetchError
   * for anything else.
   */
  async fetchServerKeys(serverName: string, signal?: AbortSignal): Promise<FetchedServerKeys> {
    const started = process.hrtime.bigint();
    const deadline = new Deadline(this.opts.totalTimeoutMs, signal);
    let outcome = 'success';
    const seen = { forbiddenAddress: false };
    const wellKnown = async (hostname: string, d: Deadline): Promise<string | null> => {
      try {
        return await this.wellKnown.lookup(hostname, d);
      } finally {
        if (this.wellKnown.hitForbiddenAddress(hostname)) seen.forbiddenAddress = true;
      }
    };
    try {
      const targets = await deadline.race(discoverTargets(serverName, { resolver: this.resolver, wellKnown }, deadline));
      return await this.fetchFromTargets(serverName, targets, deadline, seen);
    } catch (err) {
      let error = toOriginFetchError(err, serverName);
      if (seen.forbiddenAddress && !error.hitForbiddenAddress) {
        const original = error;
        error = new OriginFetchError(error.reason, error.message, { cause: error.cause, hitForbiddenAddress: true });
        if (this.reported.has(original)) this.reported.add(error);
      }
      outcome = error.reason;
      if (error.refused) this.reportRefusal(error, serverName, 'the key fetch');
      else this.logger.info({ serverName, reason: error.reason }, `origin fetch failed: ${error.message}`);
      throw error;
    } finally {
      deadline.dispose();
      this.metrics.fetches.inc({ outcome });
      this.metrics.duration.observe({ outcome }, Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  /**
   * POSTs a JSON body to a URL the operator configured (an upstream notary's key query), under
   * the origins' rules: the address filter on every address connected to, the CAs of
   * NOTARY_FEDERATION_CA_FILE for https, NOTARY_ORIGIN_CONNECT_TIMEOUT_MS and
   * NOTARY_ORIGIN_TIMEOUT_MS, and NOTARY_MAX_ORIGIN_RESPONSE_BYTES on the answer. No discovery, no
   * redirects. Resolves with the status and, for a 200, the body; rejects with OriginFetchError.
   * Not counted in the origin-fetch metrics: its caller counts what it asked.
   */
  async postJson(url: URL, body: Buffer, signal?: AbortSignal): Promise<{ statusCode: number; body: Buffer }> {
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new OriginFetchError('connection', `${url.origin}: not an http(s) URL`);
    const secure = url.protocol === 'https:';
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const deadline = new Deadline(this.opts.totalTimeoutMs, signal);
    try {
      const request: OriginRequest = {
        connectHost: host,
        port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
        path: `${url.pathname}${url.search}`,
        hostHeader: url.host,
        certName: host,
        maxBytes: this.opts.maxResponseBytes,
        deadline,
        readBodyOf: (status) => status === 200,
        method: 'POST',
        body,
      };
      // The request itself ends at the deadline (it listens to the deadline's signal).
      const res = secure
        ? await guardedRequest({ secure, agent: this.agent }, this.policy, request)
        : await guardedRequest({ secure, agent: this.plain() }, this.policy, request);
      return { statusCode: res.statusCode, body: res.body };
    } catch (err) {
      throw toOriginFetchError(err, url.origin);
    } finally {
      deadline.dispose();
    }
  }

  /** Closes pooled connections and cancels DNS queries; fetches still running fail. */
  async close(): Promise<void> {
    this.agent.destroy();
    this.plainAgent?.destroy();
    this.resolver.close();
  }

  private plain(): GuardedHttpAgent {
    this.plainAgent ??= new GuardedHttpAgent({
      policy: this.policy,
      lookup: this.lookup,
      connectTimeoutMs: this.opts.connectTimeoutMs,
      maxSocketsPerOrigin: this.opts.maxSocketsPerOrigin ?? DEFAULT_MAX_SOCKETS_PER_ORIGIN,
      maxSocketsTotal: this.opts.maxSocketsTotal ?? DEFAULT_MAX_SOCKETS_TOTAL,
    });
    return this.plainAgent;
  }

  private async fetchFromTargets(
    serverName: string,
    targets: OriginTarget[],
    deadline: Deadline,
    seen: { forbiddenAddress: boolean },
  ): Promise<FetchedServerKeys> {
    for (let i = 0; ; i++) {
      const target = targets[i]!;
      try {
        const res = await this.get({
          ...target,
          path: SERVER_KEYS_PATH,
          maxBytes: this.opts.maxResponseBytes,
          deadline,
          readBodyOf: (status) => status === 200,
        });
        if (res.statusCode >= 300 && res.statusCode < 400) {
          throw new OriginFetchError('redirect', `${serverName}: the key request was answered with a redirect (${res.statusCode}); not followed`);
        }
        if (res.statusCode !== 200) {
          throw new OriginFetchError('http_status', `${serverName}: the key request was answered with HTTP ${res.statusCode}`);
        }
        return { body: res.body, statusCode: 200, address: res.address, port: res.port, host: target.hostHeader, step: target.step };
      } catch (err) {
        const error = toOriginFetchError(err, serverName);
        if (error.hitForbiddenAddress) seen.forbiddenAddress = true;
        const more = i + 1 < targets.length && !deadline.signal.aborted;
        if (!more || !NEXT_TARGET_REASONS.has(error.reason)) throw error;
        if (error.refused) this.reportRefusal(error, serverName, `SRV target ${target.connectHost}:${target.port}`);
        else this.logger.debug({ serverName, reason: error.reason }, `trying the next SRV target: ${error.message}`);
      }
    }
  }

  private get(r: OriginRequest): Promise<OriginResponse> {
    return guardedRequest({ secure: true, agent: this.agent }, this.policy, r);
  }

  private reportRefusal(err: OriginFetchError, serverName: string, during: string): void {
    if (this.reported.has(err)) return;
    this.reported.add(err);
    this.metrics.refusals.inc({ reason: err.reason });
    this.logger.warn({ serverName, reason: err.reason }, `refused during ${during}: ${err.message}`);
  }
}

function requirePositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, got ${value}`);
}
