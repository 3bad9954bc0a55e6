/** What the bench and its origin farm (origin-farm.ts, a child process) say to each other over IPC. */

export interface FarmGroup {
  /** Origin names are `<prefix><i>.<zone>:<https port>`, i from 0 to count − 1. */
  prefix: string;
  count: number;
  /** Fixed time each response waits before it is sent (a far-away origin). */
  delayMs: number;
}

export interface FarmStart {
  zone: string;
  groups: FarmGroup[];
  /** A certificate for `*.<zone>` from the CA the notary trusts. */
  certPem: string;
  keyPem: string;
}

export type FarmRequest =
  | { id: number; cmd: 'start'; args: FarmStart }
  | { id: number; cmd: 'counts' }
  | { id: number; cmd: 'stop' };

export type FarmResponse = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

export interface GroupCounts {
  origins: number;
  /** Requests for /_matrix/key/v2/server received. */
  fetches: number;
  /** Origins fetched at least once. */
  distinct: number;
  /** The most fetches any one origin received. */
  maxPerOrigin: number;
}

export interface FarmCounts {
  groups: Record<string, GroupCounts>;
  /** Requests for origins the farm does not have. */
  notFound: number;
  dnsQueries: number;
}

export function originHost(prefix: string, index: number, zone: string): string {
  return `${prefix}${index}.${zone}`;
}

/** A server name with an explicit port: discovery goes straight to the DNS lookup of the host. */
export function originName(prefix: string, index: number, zone: string, port: number): string {
  return `${originHost(prefix, index, zone)}:${port}`;
}

/** The key ID every farm origin signs with. */
export const FARM_KEY_ID = 'ed25519:bench';
