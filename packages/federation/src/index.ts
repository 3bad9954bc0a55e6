export { FederationClient, SERVER_KEYS_PATH, type FederationClientOptions, type FetchedServerKeys } from './client';
export {
  OriginFetchError,
  ORIGIN_FETCH_REFUSAL_REASONS,
  ORIGIN_FETCH_FAILURE_REASONS,
  type OriginFetchReason,
  type OriginFetchRefusalReason,
  type OriginFetchFailureReason,
} from './errors';
export { isForbiddenAddress, createAddressPolicy, parseAllowedEntry, type AddressPolicy, type AddressPolicyOptions } from './address-filter';
export { DEFAULT_FEDERATION_PORT, type DiscoveryStep } from './discovery';
