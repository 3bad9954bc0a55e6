/**
 * The origin key source over the project's federation client, so fetching keys straight from
 * origins obeys the notary's rules: server discovery, verified TLS, address filtering, limits.
 */
import { FederationClient } from '@matrix-notary/federation';
import { OriginKeySource } from './origin-key-source';
import { originFetchSettingsFromEnv, type OriginFetchSettings } from './origin-settings';

export interface FederationOriginKeySource {
  source: OriginKeySource;
  /** Closes the federation client's connections. */
  close(): Promise<void>;
}

export function createFederationOriginKeySource(settings: OriginFetchSettings): FederationOriginKeySource {
  // The client checks NOTARY_DNS_SERVERS' format here, so a bad value fails at start.
  const client = new FederationClient({ ...settings });
  return {
    source: new OriginKeySource({ fetchServerKeys: (serverName, signal) => client.fetchServerKeys(serverName, signal) }),
    close: () => client.close(),
  };
}

/** Reads NOTARY_ALLOW_PRIVATE_ADDRESSES, NOTARY_ALLOWED_ADDRESSES, NOTARY_FEDERATION_CA_FILE, NOTARY_DNS_SERVERS and the limits. */
export function createFederationOriginKeySourceFromEnv(env: NodeJS.ProcessEnv): FederationOriginKeySource {
  return createFederationOriginKeySource(originFetchSettingsFromEnv(env));
}
