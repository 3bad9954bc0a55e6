/**
 * The origin key source over the project's federation client, so fetching keys straight from
 * origins obeys the notary's rules: server discovery, verified TLS, address filtering, limits.
 */
import { FederationClient, parseDnsServers } from '@matrix-notary/federation';
import { OriginKeySource } from './origin-key-source';
import { originFetchSettingsFromEnv, type OriginFetchSettings } from './origin-settings';

export interface FederationOriginKeySource {
  source: OriginKeySource;
  /** Closes the federation client's connections. */
  close(): Promise<void>;
}

export function createFederationOriginKeySource(settings: OriginFetchSettings): FederationOriginKeySource {
  const client = new FederationClient({
    allowPrivateAddresses: settings.allowPrivateAddresses,
    allowedAddresses: settings.allowedAddresses,
    connectTimeoutMs: settings.connectTimeoutMs,
    totalTimeoutMs: settings.totalTimeoutMs,
    maxResponseBytes: settings.maxResponseBytes,
    extraCaPem: settings.extraCaPem,
    // Checked here so a bad NOTARY_DNS_SERVERS fails at start, naming the variable.
    dnsServers: settings.dnsServers ? parseDnsServers(settings.dnsServers) : undefined,
  });
  return {
    source: new OriginKeySource({ fetchServerKeys: (serverName, signal) => client.fetchServerKeys(serverName, signal) }),
    close: () => client.close(),
  };
}

/** Reads NOTARY_ALLOW_PRIVATE_ADDRESSES, NOTARY_ALLOWED_ADDRESSES, NOTARY_FEDERATION_CA_FILE, NOTARY_DNS_SERVERS and the limits. */
export function createFederationOriginKeySourceFromEnv(env: NodeJS.ProcessEnv): FederationOriginKeySource {
  return createFederationOriginKeySource(originFetchSettingsFromEnv(env));
}
