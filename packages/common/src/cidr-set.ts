/**
 * Membership of an address in a list of CIDRs (NOTARY_TRUSTED_PROXIES, NOTARY_UNLIMITED_CLIENTS).
 * Addresses are compared after parsing, and an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, which
 * is how a dual-stack socket reports an IPv4 peer) counts as its IPv4 address.
 */
import ipaddr from 'ipaddr.js';

export type IpAddress = ipaddr.IPv4 | ipaddr.IPv6;

/** Parses an address; IPv4-mapped IPv6 becomes IPv4. Undefined for anything that is not an address. */
export function parseAddress(text: string): IpAddress | undefined {
  if (!ipaddr.isValid(text)) return undefined;
  const addr = ipaddr.parse(text);
  return addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() ? (addr as ipaddr.IPv6).toIPv4Address() : addr;
}

export class CidrSet {
  private readonly ranges: Array<[IpAddress, number]>;

  /** `entries`: CIDRs or single addresses, as the configuration schema accepts them. */
  constructor(entries: readonly string[]) {
    this.ranges = entries.map((e) => {
      if (e.includes('/')) return ipaddr.parseCIDR(e);
      const addr = ipaddr.parse(e);
      return [addr, addr.kind() === 'ipv4' ? 32 : 128];
    });
  }

  get size(): number {
    return this.ranges.length;
  }

  has(addr: IpAddress | undefined): boolean {
    if (addr === undefined) return false;
    return this.ranges.some(([range, bits]) => range.kind() === addr.kind() && addr.match(range, bits));
  }
}
