/** The NOTARY_DNS_SERVERS format: comma-separated `ip`, `ip:port` or `[v6]:port` entries. */
import { isIPv4, isIPv6 } from 'node:net';

/**
 * Validates NOTARY_DNS_SERVERS and returns its entries in the form `dns.Resolver#setServers`
 * takes. An empty or blank list means "the system's resolvers" and gives [].
 */
export function parseDnsServers(list: string): string[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(parseDnsServer);
}

function parseDnsServer(entry: string): string {
  const fail = (why: string): never => {
    throw new Error(
      `NOTARY_DNS_SERVERS: "${entry}" ${why}; give resolvers as ip, ip:port or [ipv6]:port, separated by commas`,
    );
  };
  let host: string;
  let port: string | undefined;
  if (entry.startsWith('[')) {
    const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
    if (!m) return fail('is not of the form [ipv6]:port');
    host = m[1]!;
    port = m[2];
    if (!isIPv6(host)) fail('has no IPv6 address between the brackets');
  } else if (isIPv6(entry)) {
    host = entry;
  } else {
    const m = /^([^:]+)(?::(\d+))?$/.exec(entry);
    if (!m) return fail('is not an address');
    host = m[1]!;
    port = m[2];
    if (!isIPv4(host)) fail('is not an IPv4 or IPv6 address (host names are not accepted: a resolver must be found without DNS)');
  }
  if (port !== undefined) {
    const n = Number(port);
    if (!/^\d{1,5}$/.test(port) || n < 1 || n > 65535) fail('has a port outside 1-65535');
    return isIPv6(host) ? `[${host}]:${n}` : `${host}:${n}`;
  }
  return host;
}
