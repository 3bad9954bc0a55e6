/**
 * Which addresses the notary may connect to (DESIGN behaviour 7). Callers are anonymous and choose
 * the server names, so anything that is not plainly a public unicast address is refused unless the
 * operator allowed it. Addresses are judged after parsing, so every textual spelling of one address
 * (`2130706433`, `0x7f.1`, `::ffff:7f00:1`) gets the same answer.
 */
import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Cidr = [Address, number];

export interface AddressPolicy {
  /** NOTARY_ALLOW_PRIVATE_ADDRESSES: any non-public address may be connected to. */
  readonly allowPrivateAddresses: boolean;
  /** NOTARY_ALLOWED_ADDRESSES, parsed. */
  readonly allowed: readonly Cidr[];
}

export interface AddressPolicyOptions {
  allowPrivateAddresses: boolean;
  allowedAddresses: readonly string[];
}

export function createAddressPolicy(opts: AddressPolicyOptions): AddressPolicy {
  return { allowPrivateAddresses: opts.allowPrivateAddresses, allowed: opts.allowedAddresses.map(parseAllowedEntry) };
}

/** Parses one NOTARY_ALLOWED_ADDRESSES entry: a CIDR, or a single address meaning /32 or /128. */
export function parseAllowedEntry(entry: string): Cidr {
  const text = entry.trim();
  const fail = (why: string): never => {
    throw new Error(
      `NOTARY_ALLOWED_ADDRESSES: "${entry}" ${why}; give CIDRs such as 127.0.0.2/32 or fd00::/8, separated by commas`,
    );
  };
  if (text.includes('/')) {
    const [addr, bits] = text.split('/', 2) as [string, string];
    if (!/^\d{1,3}$/.test(bits)) fail('has no valid prefix length');
    if (!ipaddr.IPv4.isValidFourPartDecimal(addr) && !isStrictIPv6(addr)) fail('is not a CIDR');
    try {
      return ipaddr.parseCIDR(text);
    } catch {
      return fail('is not a CIDR');
    }
  }
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return [ipaddr.IPv4.parse(text), 32];
  if (isStrictIPv6(text)) return [ipaddr.IPv6.parse(text), 128];
  return fail('is not a CIDR or an IP address');
}

function isStrictIPv6(text: string): boolean {
  return !text.includes('%') && ipaddr.IPv6.isValid(text);
}

// Ranges a notary never needs, whatever the operator allows: TCP cannot reach them, or (0.0.0.0,
// `::`) the kernel quietly turns them into "this host".
const NEVER_USEFUL = new Set(['unspecified', 'broadcast', 'multicast']);

// The only part of the IPv6 space handed out for global unicast (RFC 4291 §2.4); ipaddr.js calls
// unassigned space outside it "unicast" too, including the deprecated IPv4-compatible ::/96.
const IPV6_GLOBAL_UNICAST: Cidr = [ipaddr.IPv6.parse('2000::'), 3];
// RFC 6052's well-known NAT64 prefix carries a public IPv4 address on IPv6-only networks; the
// local-use prefix 64:ff9b:1::/48 (RFC 8215) is site-specific and stays forbidden.
const NAT64_WELL_KNOWN: Cidr = [ipaddr.IPv6.parse('64:ff9b::'), 96];

/**
 * True when the notary must not connect to `ip`. Anything that does not parse as an address is
 * forbidden: failing closed is the only safe answer to a spelling we do not understand.
 */
export function isForbiddenAddress(ip: string, policy: AddressPolicy): boolean {
  let addr: Address;
  try {
    addr = ipaddr.parse(hexIPv4Tail(ip));
  } catch {
    return true;
  }
  return judge(addr, policy, 0);
}

/**
 * ipaddr.js reads `::a.b.c.d` as the IPv4-mapped `::ffff:a.b.c.d`; spelling the tail in hex first
 * keeps the deprecated IPv4-compatible form (which Node prints that way) what it is.
 */
function hexIPv4Tail(ip: string): string {
  const m = /^(.*:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(%.*)?$/.exec(ip);
  if (!m) return ip;
  const [a, b, c, d] = [m[2], m[3], m[4], m[5]].map(Number) as [number, number, number, number];
  if (a > 255 || b > 255 || c > 255 || d > 255) return ip;
  return `${m[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}${m[6] ?? ''}`;
}

function judge(addr: Address, policy: AddressPolicy, depth: number): boolean {
  if (depth > 2) return true;
  if (isExplicitlyAllowed(addr, policy)) return false;
  const range = addr.range();
  if (NEVER_USEFUL.has(range)) return true;

  const embedded = embeddedIPv4(addr);
  if (embedded !== null) {
    // An address that tunnels to IPv4 is as safe as the IPv4 addresses it reaches.
    return embedded.length === 0 || embedded.some((v4) => judge(v4, policy, depth + 1));
  }
  if (policy.allowPrivateAddresses) return false;
  if (range !== 'unicast') return true;
  return addr.kind() === 'ipv6' && !(addr as ipaddr.IPv6).match(IPV6_GLOBAL_UNICAST);
}

function isExplicitlyAllowed(addr: Address, policy: AddressPolicy): boolean {
  for (const [net, bits] of policy.allowed) {
    if (net.kind() === addr.kind() && addr.match(net, bits)) return true;
  }
  return false;
}

/**
 * The IPv4 addresses a translated or tunnelled IPv6 address leads to; null when it is not one.
 * An empty list means "tunnelling, but to nothing we can judge": the caller forbids it.
 */
function embeddedIPv4(addr: Address): ipaddr.IPv4[] | null {
  if (addr.kind() !== 'ipv6') return null;
  const v6 = addr as ipaddr.IPv6;
  const p = v6.parts;
  const v4 = (hi: number, lo: number): ipaddr.IPv4 => new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
  switch (v6.range()) {
    case 'ipv4Mapped': // ::ffff:a.b.c.d
    case 'rfc6145': // ::ffff:0:a.b.c.d
      return [v4(p[6]!, p[7]!)];
    case 'rfc6052':
      return v6.match(NAT64_WELL_KNOWN) ? [v4(p[6]!, p[7]!)] : [];
    case '6to4': // 2002:AABB:CCDD::/48
      return [v4(p[1]!, p[2]!)];
    case 'teredo': // 2001:0:server-v4:flags:port:~client-v4
      return [v4(p[2]!, p[3]!), v4(~p[6]! & 0xffff, ~p[7]! & 0xffff)];
    default:
      return null;
  }
}
