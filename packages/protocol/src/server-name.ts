/**
 * The server-name grammar of the Matrix spec (appendix "Server Name"):
 *   server_name = hostname [ ":" port ]; hostname = IPv4address / "[" IPv6address "]" / dns-name
 * Anonymous callers choose server names, so parsing is strict and bounded.
 */
import { isIPv4, isIPv6 } from 'node:net';

export const MAX_SERVER_NAME_LENGTH = 255;

export type HostKind = 'ipv4' | 'ipv6' | 'dns';

export interface ParsedServerName {
  /** The host without brackets: `example.org`, `1.2.3.4`, `::1`. Lower-cased for DNS names. */
  host: string;
  /** The explicit port, when the name carries one. */
  port?: number;
  kind: HostKind;
}

const DNS_NAME = /^[A-Za-z0-9.-]{1,255}$/;
const IPV4_STRICT = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const PORT = /^[0-9]{1,5}$/;

/** Parses a server name, or returns null when it does not follow the grammar. */
export function parseServerName(name: string): ParsedServerName | null {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_SERVER_NAME_LENGTH) return null;
  let hostPart: string;
  let portPart: string | undefined;
  if (name.startsWith('[')) {
    const close = name.indexOf(']');
    if (close < 0) return null;
    hostPart = name.slice(1, close);
    const rest = name.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return null;
      portPart = rest.slice(1);
    }
    // The spec's IPv6address: hex digits, colons and dots (for an embedded IPv4); no zone IDs.
    if (!/^[0-9A-Fa-f:.]{2,45}$/.test(hostPart) || !isIPv6(hostPart)) return null;
  } else {
    const colon = name.lastIndexOf(':');
    if (colon >= 0) {
      hostPart = name.slice(0, colon);
      portPart = name.slice(colon + 1);
    } else {
      hostPart = name;
    }
    if (!DNS_NAME.test(hostPart)) return null;
  }
  let port: number | undefined;
  if (portPart !== undefined) {
    if (!PORT.test(portPart)) return null;
    port = Number(portPart);
    if (port < 1 || port > 65535) return null;
  }
  if (name.startsWith('[')) return { host: hostPart.toLowerCase(), port, kind: 'ipv6' };
  if (IPV4_STRICT.test(hostPart) && isIPv4(hostPart)) return { host: hostPart, port, kind: 'ipv4' };
  // A dotted-decimal lookalike that is not a canonical IPv4 literal (e.g. `1.2.3.04`) is still a
  // syntactically valid DNS name; the address filter judges whatever it resolves to.
  return { host: hostPart.toLowerCase(), port, kind: 'dns' };
}

export function isValidServerName(name: unknown): name is string {
  return typeof name === 'string' && parseServerName(name) !== null;
}

/** The host as it appears in a URL or Host header: IPv6 literals in brackets. */
export function formatHost(host: string, kind: HostKind): string {
  return kind === 'ipv6' ? `[${host}]` : host;
}

/**
 * The one spelling of a server name that the notary accepts from callers: DNS names in lower
 * case without a trailing dot or empty labels, and not ending in an all-digit label (no real
 * top-level domain does; such names are numeric address spellings in disguise); ports without
 * leading zeros; IPv6 literals in their compressed lower-case form. Each origin then has exactly
 * one name, so its rate limit and backoff cannot be split across spellings of the same host.
 * Returns null for a name that does not parse, and for a DNS name that has no canonical spelling
 * (an empty label, or an all-digit last label that is not an IPv4 address); otherwise the
 * canonical spelling, which is its own canonical spelling.
 */
export function canonicalServerName(name: string): string | null {
  const parsed = parseServerName(name);
  if (parsed === null) return null;
  const port = parsed.port === undefined ? '' : `:${parsed.port}`;
  if (parsed.kind === 'ipv6') {
    // The URL parser writes IPv6 addresses in RFC 5952 form.
    return `${new URL(`http://[${parsed.host}]/`).hostname}${port}`;
  }
  if (parsed.kind === 'ipv4') return `${parsed.host}${port}`;
  const host = parsed.host.endsWith('.') ? parsed.host.slice(0, -1) : parsed.host;
  // `1.2.3.4.` is the address 1.2.3.4; `a..b` or `.` name no host, `2130706433` is an address in disguise.
  if (IPV4_STRICT.test(host)) return `${host}${port}`;
  const labels = host.split('.');
  if (labels.some((l) => l === '') || /^[0-9]+$/.test(labels[labels.length - 1])) return null;
  return `${host}${port}`;
}

/** Why a valid server name is not in canonical form, or null when it is. */
export function nonCanonicalServerNameReason(name: string): string | null {
  const parsed = parseServerName(name);
  if (parsed === null) return 'it is not a valid server name';
  if (parsed.kind === 'dns') {
    const labels = parsed.host.replace(/\.$/, '').split('.');
    if (labels.some((l) => l === '')) return 'it has an empty label or a trailing dot';
    if (/^[0-9]+$/.test(labels[labels.length - 1])) return 'its last label is all digits (write an IP address in dotted form)';
  }
  const canonical = canonicalServerName(name);
  if (canonical !== name) return `it is not in canonical form (write ${JSON.stringify(canonical)})`;
  return null;
}
