/**
 * `GET https://<hostname>/.well-known/matrix/server`: the delegation step of server discovery,
 * with the spec's caching rules and bounded, loop-free redirects that each pass the address filter.
 */
import { isIP } from 'node:net';
import { LRUCache } from 'lru-cache';
import { parseServerName } from '@matrix-notary/protocol';
import { freshnessLifetimeMs } from './cache-control';
import { Deadline } from './deadline';
import { OriginFetchError, toOriginFetchError } from './errors';
import type { OriginRequest, OriginResponse } from './http-fetch';

export const WELL_KNOWN_PATH = '/.well-known/matrix/server';
/** The spec's recommended default when the response says nothing about caching. */
export const WELL_KNOWN_DEFAULT_CACHE_MS = 24 * 60 * 60 * 1000;
/** The spec's recommended maximum, whatever the headers say. */
export const WELL_KNOWN_MAX_CACHE_MS = 48 * 60 * 60 * 1000;
/**
 * Our floor (as Synapse has): anonymous callers pick the names, and `no-store` on a delegation must
 * not turn every key fetch into two origin requests.
 */
export const WELL_KNOWN_MIN_CACHE_MS = 5 * 60 * 1000;
/** The spec: errors cached "for up to an hour". Also the default for an answer that is not a delegation. */
export const WELL_KNOWN_ERROR_CACHE_MAX_MS = 60 * 60 * 1000;
/** An unreachable `.well-known` is cached this long at first, doubling per failure in a row (the spec's backoff). */
export const WELL_KNOWN_UNREACHABLE_CACHE_MS = 2 * 60 * 1000;
/** The spec says to follow redirects without looping; this bounds chains that never repeat a URL. */
export const WELL_KNOWN_MAX_REDIRECTS = 5;
/** A delegation is one short JSON object. */
export const WELL_KNOWN_MAX_BYTES = 50 * 1024;
/** Share of the fetch's time the `.well-known` step may use, so the SRV and 8448 fallbacks keep some. */
const WELL_KNOWN_BUDGET_SHARE = 0.5;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export type HttpsGet = (r: OriginRequest) => Promise<OriginResponse>;

export interface WellKnownOptions {
  get: HttpsGet;
  now: () => number;
  /** Told about every hop the notary refused (forbidden address, bad certificate, ...). */
  onRefused: (err: OriginFetchError, hostname: string) => void;
  /** Told about answers that are not a delegation and hops that failed, for debug logs. */
  onFailed?: (why: string, hostname: string) => void;
}

interface Entry {
  /** The delegated server name, or null: go on with the SRV steps. */
  server: string | null;
  expiresAt: number;
  /** Unreachable results in a row, for the backoff. */
  failures: number;
  /** The last lookup was refused at an address the policy forbids (upstream notaries are then never asked). */
  forbidden: boolean;
}

type Outcome =
  | { kind: 'delegated'; server: string; lifetimeMs: number }
  | { kind: 'invalid'; why: string; lifetimeMs: number }
  | { kind: 'unreachable'; error: OriginFetchError };

export class WellKnownResolver {
  private readonly cache = new LRUCache<string, Entry>({ max: 10_000 });
  private readonly inflight = new Map<string, Promise<string | null>>();

  constructor(private readonly opts: WellKnownOptions) {}

  /** The delegated server name for `hostname`, or null when it has none (or none we could read). */
  lookup(hostname: string, deadline: Deadline): Promise<string | null> {
    const entry = this.cache.get(hostname);
    if (entry && entry.expiresAt > this.opts.now()) return Promise.resolve(entry.server);
    const running = this.inflight.get(hostname);
    if (running) return deadline.race(running);
    const p = this.refresh(hostname, entry, deadline).finally(() => this.inflight.delete(hostname));
    this.inflight.set(hostname, p);
    return p;
  }

  /** Whether the `.well-known` lookup remembered for `hostname` was refused at a forbidden address. */
  hitForbiddenAddress(hostname: string): boolean {
    return this.cache.peek(hostname)?.forbidden === true;
  }

  private async refresh(hostname: string, previous: Entry | undefined, deadline: Deadline): Promise<string | null> {
    const budget = new Deadline(Math.floor(deadline.remainingMs() * WELL_KNOWN_BUDGET_SHARE), deadline.signal);
    let outcome: Outcome;
    try {
      outcome = await this.fetch(hostname, budget);
    } finally {
      budget.dispose();
    }
    // The caller gave up or the whole fetch ran out of time: say so rather than move on.
    if (deadline.signal.aborted) {
      if ((deadline.signal.reason as OriginFetchError).reason === 'timeout') this.remember(hostname, outcome, previous);
      throw deadline.signal.reason;
    }
    this.remember(hostname, outcome, previous);
    if (outcome.kind === 'delegated') return outcome.server;
    if (outcome.kind === 'unreachable') {
      if (outcome.error.refused) this.opts.onRefused(outcome.error, hostname);
      else this.opts.onFailed?.(outcome.error.message, hostname);
    } else {
      this.opts.onFailed?.(outcome.why, hostname);
    }
    return null;
  }

  private remember(hostname: string, outcome: Outcome, previous: Entry | undefined): void {
    const now = this.opts.now();
    if (outcome.kind === 'unreachable') {
      const failures = (previous?.failures ?? 0) + 1;
      const lifetime = Math.min(WELL_KNOWN_UNREACHABLE_CACHE_MS * 2 ** (failures - 1), WELL_KNOWN_ERROR_CACHE_MAX_MS);
      const forbidden = outcome.error.reason === 'forbidden_address';
      this.cache.set(hostname, { server: null, expiresAt: now + lifetime, failures, forbidden });
    } else {
      const server = outcome.kind === 'delegated' ? outcome.server : null;
      this.cache.set(hostname, { server, expiresAt: now + outcome.lifetimeMs, failures: 0, forbidden: false });
    }
  }

  private async fetch(hostname: string, budget: Deadline): Promise<Outcome> {
    let url = new URL(`https://${formatUrlHost(hostname)}${WELL_KNOWN_PATH}`);
    const visited = new Set<string>();
    for (let hop = 0; ; hop++) {
      visited.add(url.href);
      let res: OriginResponse;
      try {
        res = await this.opts.get({
          connectHost: urlHostname(url),
          port: url.port === '' ? 443 : Number(url.port),
          path: `${url.pathname}${url.search}`,
          hostHeader: url.host,
          certName: urlHostname(url),
          maxBytes: WELL_KNOWN_MAX_BYTES,
          deadline: budget,
          readBodyOf: (status) => status === 200,
        });
      } catch (err) {
        return { kind: 'unreachable', error: toOriginFetchError(err, `.well-known of ${hostname}`) };
      }
      if (REDIRECT_STATUSES.has(res.statusCode)) {
        const next = this.redirectTarget(url, res);
        if (typeof next === 'string') return this.invalid(next, res);
        if (visited.has(next.href)) return this.invalid(`redirect loop back to ${next.href}`, res);
        if (hop >= WELL_KNOWN_MAX_REDIRECTS) return this.invalid(`more than ${WELL_KNOWN_MAX_REDIRECTS} redirects`, res);
        url = next;
        continue;
      }
      if (res.statusCode !== 200) return this.invalid(`HTTP status ${res.statusCode}`, res);
      const server = delegatedServer(res.body);
      if (server === null) return this.invalid('the body is not {"m.server": "<valid server name>"}', res);
      return { kind: 'delegated', server, lifetimeMs: this.lifetime(res, WELL_KNOWN_DEFAULT_CACHE_MS, WELL_KNOWN_MAX_CACHE_MS) };
    }
  }

  private redirectTarget(from: URL, res: OriginResponse): URL | string {
    const location = res.headers.location;
    if (!location) return `redirect status ${res.statusCode} without a Location`;
    let next: URL;
    try {
      next = new URL(location, from);
    } catch {
      return `redirect to an invalid URL`;
    }
    // Certificates are what make a delegation trustworthy: a plain-http hop would drop them.
    if (next.protocol !== 'https:') return `redirect to a ${next.protocol} URL`;
    if (next.username !== '' || next.password !== '') return 'redirect to a URL with credentials';
    next.hash = '';
    return next;
  }

  private invalid(why: string, res: OriginResponse): Outcome {
    return { kind: 'invalid', why, lifetimeMs: this.lifetime(res, WELL_KNOWN_ERROR_CACHE_MAX_MS, WELL_KNOWN_ERROR_CACHE_MAX_MS) };
  }

  private lifetime(res: OriginResponse, fallbackMs: number, maxMs: number): number {
    const fromHeaders = freshnessLifetimeMs(res.headers, this.opts.now());
    return Math.min(Math.max(fromHeaders ?? fallbackMs, WELL_KNOWN_MIN_CACHE_MS), maxMs);
  }
}

function delegatedServer(body: Buffer): string | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
  const server = (parsed as Record<string, unknown>)['m.server'];
  return typeof server === 'string' && parseServerName(server) !== null ? server : null;
}

function formatUrlHost(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

/** The URL's host without IPv6 brackets (the WHATWG parser has already normalised IPv4 spellings). */
function urlHostname(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}
