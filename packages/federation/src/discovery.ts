/**
 * The spec's "Resolving server names": from a server name to the places to connect to, each with
 * the Host header to send and the name the certificate must be valid for.
 */
import { parseServerName, type ParsedServerName } from '@matrix-notary/protocol';
import type { Deadline } from './deadline';
import type { NameResolver } from './dns-resolver';
import { OriginFetchError } from './errors';
import { lookupMatrixSrv, type SrvLookup } from './srv';

export const DEFAULT_FEDERATION_PORT = 8448;

export type DiscoveryStep =
  | 'ip_literal'
  | 'explicit_port'
  | 'delegated_ip_literal'
  | 'delegated_explicit_port'
  | 'delegated_srv'
  | 'delegated_srv_legacy'
  | 'delegated_default_port'
  | 'srv'
  | 'srv_legacy'
  | 'default_port';

export interface OriginTarget {
  step: DiscoveryStep;
  /** IP literal (connected to as is) or DNS name (resolved through A/AAAA at connect time). */
  connectHost: string;
  port: number;
  hostHeader: string;
  /** The DNS name or IP address the certificate must be valid for; the SNI when it is a name. */
  certName: string;
}

export interface DiscoveryDeps {
  resolver: NameResolver;
  /** The `.well-known` delegation of a hostname, or null when it has none. */
  wellKnown: (hostname: string, deadline: Deadline) => Promise<string | null>;
}

/** The targets for `serverName`, in the order to try them (several only when SRV lists several). */
export async function discoverTargets(serverName: string, deps: DiscoveryDeps, deadline: Deadline): Promise<OriginTarget[]> {
  const name = parseServerName(serverName);
  if (name === null) {
    throw new OriginFetchError('invalid_server_name', `${JSON.stringify(serverName.slice(0, 300))} is not a valid server name`);
  }
  // Steps 1 and 2: an IP literal or an explicit port is used as it is, Host = the server name.
  if (name.kind !== 'dns') return [literalTarget('ip_literal', serverName, name)];
  if (name.port !== undefined) return [literalTarget('explicit_port', serverName, name)];

  // Step 3: delegation through .well-known, whose answer then goes through steps 3.1-3.5.
  const delegated = await deps.wellKnown(name.host, deadline);
  if (delegated !== null) {
    const d = parseServerName(delegated)!;
    if (d.kind !== 'dns') return [literalTarget('delegated_ip_literal', delegated, d)];
    if (d.port !== undefined) return [literalTarget('delegated_explicit_port', delegated, d)];
    return srvOrDefault(d.host, true, deps, deadline);
  }
  // Steps 4-6: SRV records of the server name itself, else port 8448.
  return srvOrDefault(name.host, false, deps, deadline);
}

function literalTarget(step: DiscoveryStep, hostHeader: string, name: ParsedServerName): OriginTarget {
  return { step, connectHost: name.host, port: name.port ?? DEFAULT_FEDERATION_PORT, hostHeader, certName: name.host };
}

async function srvOrDefault(hostname: string, delegated: boolean, deps: DiscoveryDeps, deadline: Deadline): Promise<OriginTarget[]> {
  const srv: SrvLookup | null = await deadline.race(lookupMatrixSrv(deps.resolver, hostname));
  if (srv === null) {
    const step = delegated ? 'delegated_default_port' : 'default_port';
    return [{ step, connectHost: hostname, port: DEFAULT_FEDERATION_PORT, hostHeader: hostname, certName: hostname }];
  }
  if (srv.targets.length === 0) {
    throw new OriginFetchError('dns', `${srv.service}.${hostname} has SRV records but no usable target (service not offered)`);
  }
  const legacy = srv.service === '_matrix._tcp';
  const step: DiscoveryStep = delegated ? (legacy ? 'delegated_srv_legacy' : 'delegated_srv') : legacy ? 'srv_legacy' : 'srv';
  // The SRV target is only where to connect: Host and certificate stay those of the (delegated) name.
  return srv.targets.map((t) => ({ step, connectHost: t.host, port: t.port, hostHeader: hostname, certName: hostname }));
}
