export { FederationClient, SERVER_KEYS_PATH, type FederationClientOptions, type FetchedServerKeys } from './client';
export {
  OriginFetchError,
  REFUSAL_REASONS,
  FAILURE_REASONS,
  type OriginFetchReason,
  type RefusalReason,
  type FailureReason,
} from './errors';
export { isForbiddenAddress, createAddressPolicy, parseAllowedEntry, type AddressPolicy, type AddressPolicyOptions } from './address-filter';
export { DEFAULT_FEDERATION_PORT, type DiscoveryStep } from './discovery';
