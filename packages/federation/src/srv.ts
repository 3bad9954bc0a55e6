/** The SRV steps of server discovery: `_matrix-fed._tcp`, then the deprecated `_matrix._tcp`. */
import type { NameResolver, SrvRecord } from './dns-resolver';

export type SrvService = '_matrix-fed._tcp' | '_matrix._tcp';
export const SRV_SERVICES: readonly SrvService[] = ['_matrix-fed._tcp', '_matrix._tcp'];

/** SRV answers can list many targets; trying more than a few only burns the fetch's time budget. */
export const MAX_SRV_TARGETS = 4;

export interface SrvTarget {
  host: string;
  port: number;
}

export interface SrvLookup {
  service: SrvService;
  /** In the order to try them; empty when the record says the service is not offered ("."). */
  targets: SrvTarget[];
}

/** The first service name that has SRV records for `hostname`, or null when neither has. */
export async function lookupMatrixSrv(resolver: NameResolver, hostname: string): Promise<SrvLookup | null> {
  for (const service of SRV_SERVICES) {
    const records = await resolver.resolveSrv(`${service}.${hostname}`);
    if (records.length === 0) continue;
    const usable = orderSrvRecords(records.filter((r) => !isNoService(r) && r.port > 0));
    return {
      service,
      targets: usable.slice(0, MAX_SRV_TARGETS).map((r) => ({ host: r.name.replace(/\.$/, ''), port: r.port })),
    };
  }
  return null;
}

// RFC 2782: a target of "." means the service is decidedly not available at this domain.
function isNoService(r: SrvRecord): boolean {
  return r.name === '' || r.name === '.';
}

/** RFC 2782 order: ascending priority; within one priority, a weighted random draw without replacement. */
export function orderSrvRecords(records: readonly SrvRecord[], random: () => number = Math.random): SrvRecord[] {
  const byPriority = new Map<number, SrvRecord[]>();
  for (const r of records) {
    const group = byPriority.get(r.priority) ?? [];
    group.push(r);
    byPriority.set(r.priority, group);
  }
  const ordered: SrvRecord[] = [];
  for (const priority of [...byPriority.keys()].sort((a, b) => a - b)) {
    // Zero-weight records first, so the running-sum draw gives them a small chance (RFC 2782).
    const pool = [...byPriority.get(priority)!].sort((a, b) => a.weight - b.weight);
    while (pool.length > 0) {
      const total = pool.reduce((sum, r) => sum + r.weight, 0);
      const pick = Math.floor(random() * (total + 1));
      let running = 0;
      let index = pool.findIndex((r) => (running += r.weight) >= pick);
      if (index < 0) index = pool.length - 1;
      ordered.push(pool.splice(index, 1)[0]!);
    }
  }
  return ordered;
}
