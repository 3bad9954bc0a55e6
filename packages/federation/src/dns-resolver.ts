/**
 * Name resolution for origins: through the resolvers of NOTARY_DNS_SERVERS when set (answers cached
 * for their TTL), else through the system's resolver (`dns.lookup`, which the OS may cache).
 * SRV records always go through c-ares, with the configured resolvers or the system's.
 */
import dns from 'node:dns';
import { LRUCache } from 'lru-cache';
import { OriginFetchError } from './errors';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

export interface SrvRecord {
  name: string;
  port: number;
  priority: number;
  weight: number;
}

export interface NameResolver {
  /** The addresses of a host name (A and AAAA, CNAMEs followed); rejects with reason 'dns' when none. */
  resolveHost(host: string): Promise<ResolvedAddress[]>;
  /** The SRV records of `name`; [] when it has none. */
  resolveSrv(name: string): Promise<SrvRecord[]>;
  /** Cancels queries still running (they reject with ECANCELLED). */
  close(): void;
}

export interface NameResolverOptions {
  /** Entries as returned by parseDnsServers; empty or absent: the system's resolvers. */
  dnsServers?: readonly string[];
  /** Budget for one lookup, split over two tries to each resolver. */
  timeoutMs: number;
  now: () => number;
}

/** An answer is never kept longer than this, whatever TTL it claims. */
export const MAX_ADDRESS_CACHE_TTL_MS = 60 * 60 * 1000;
/** "No such name" answers carry no TTL in Node's API; kept briefly so a flood of lookups of a dead name stays cheap. */
export const NEGATIVE_ADDRESS_CACHE_MS = 30 * 1000;
/**
 * Node's resolveSrv() does not return TTLs, so SRV answers (and their absence) are kept for this
 * fixed time: short enough that a moved server is found again within minutes.
 */
export const SRV_CACHE_MS = 5 * 60 * 1000;
const CACHE_MAX_ENTRIES = 10_000;

const NO_RECORDS = new Set(['ENODATA', 'ENOTFOUND']);

interface Cached<T> {
  value: T;
  expiresAt: number;
}

export function createNameResolver(opts: NameResolverOptions): NameResolver {
  const perTryMs = Math.max(200, Math.floor(opts.timeoutMs / 2));
  const resolver = new dns.promises.Resolver({ timeout: perTryMs, tries: 2 });
  const custom = (opts.dnsServers ?? []).length > 0;
  if (custom) resolver.setServers([...opts.dnsServers!]);
  return new CachingNameResolver(resolver, custom, opts.now);
}

class CachingNameResolver implements NameResolver {
  private readonly addresses = new LRUCache<string, Cached<ResolvedAddress[]>>({ max: CACHE_MAX_ENTRIES });
  private readonly srv = new LRUCache<string, Cached<SrvRecord[]>>({ max: CACHE_MAX_ENTRIES });
  private readonly inflight = new Map<string, Promise<unknown>>();

  constructor(
    private readonly resolver: dns.promises.Resolver,
    private readonly viaCustomServers: boolean,
    private readonly now: () => number,
  ) {}

  close(): void {
    this.resolver.cancel();
  }

  resolveHost(host: string): Promise<ResolvedAddress[]> {
    if (!this.viaCustomServers) return this.systemLookup(host);
    const cached = this.addresses.get(host);
    if (cached && cached.expiresAt > this.now()) return this.nonEmpty(host, cached.value);
    return this.once(`a:${host}`, async () => {
      const { addresses, ttlMs } = await this.queryAddresses(host);
      const lifetime = addresses.length === 0 ? NEGATIVE_ADDRESS_CACHE_MS : Math.min(ttlMs, MAX_ADDRESS_CACHE_TTL_MS);
      if (lifetime > 0) this.addresses.set(host, { value: addresses, expiresAt: this.now() + lifetime });
      return this.nonEmpty(host, addresses);
    });
  }

  resolveSrv(name: string): Promise<SrvRecord[]> {
    const cached = this.srv.get(name);
    if (cached && cached.expiresAt > this.now()) return Promise.resolve(cached.value);
    return this.once(`srv:${name}`, async () => {
      let records: SrvRecord[];
      try {
        records = await this.resolver.resolveSrv(name);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        if (!NO_RECORDS.has(code)) {
          // A resolver that is down must not make a server look like it has no SRV records (the
          // fallback would then connect elsewhere): keep using the last answer if there is one.
          if (cached) return cached.value;
          throw new OriginFetchError('dns', `SRV lookup of ${name} failed (${code})`, { cause: err });
        }
        records = [];
      }
      this.srv.set(name, { value: records, expiresAt: this.now() + SRV_CACHE_MS });
      return records;
    });
  }

  private async queryAddresses(host: string): Promise<{ addresses: ResolvedAddress[]; ttlMs: number }> {
    const [v6, v4] = await Promise.allSettled([
      this.resolver.resolve6(host, { ttl: true }),
      this.resolver.resolve4(host, { ttl: true }),
    ]);
    const addresses: ResolvedAddress[] = [];
    let ttlS = Infinity;
    const failures: string[] = [];
    for (const [result, family] of [[v6, 6], [v4, 4]] as const) {
      if (result.status === 'fulfilled') {
        for (const r of result.value) {
          addresses.push({ address: r.address, family });
          ttlS = Math.min(ttlS, r.ttl);
        }
      } else {
        const code = (result.reason as NodeJS.ErrnoException).code ?? 'unknown';
        if (!NO_RECORDS.has(code)) failures.push(code);
      }
    }
    // Only a definite "no records" may be cached as such; a failed query is retried next time.
    if (addresses.length === 0 && failures.length > 0) {
      throw new OriginFetchError('dns', `lookup of ${host} failed (${failures.join(', ')})`);
    }
    return { addresses, ttlMs: addresses.length === 0 ? 0 : ttlS * 1000 };
  }

  private async systemLookup(host: string): Promise<ResolvedAddress[]> {
    try {
      const found = await dns.promises.lookup(host, { all: true, verbatim: true });
      return this.nonEmpty(
        host,
        found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 })),
      );
    } catch (err) {
      if (err instanceof OriginFetchError) throw err;
      const code = (err as NodeJS.ErrnoException).code ?? 'unknown';
      throw new OriginFetchError('dns', `lookup of ${host} failed (${code})`, { cause: err });
    }
  }

  private nonEmpty(host: string, addresses: ResolvedAddress[]): Promise<ResolvedAddress[]> {
    if (addresses.length === 0) return Promise.reject(new OriginFetchError('dns', `${host} has no A or AAAA records`));
    return Promise.resolve(addresses);
  }

  /** Concurrent lookups of one name share a single query. */
  private once<T>(key: string, run: () => Promise<T>): Promise<T> {
    const running = this.inflight.get(key) as Promise<T> | undefined;
    if (running) return running;
    const p = run().finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }
}
