/**
 * @matrix-notary/keyring: verify Matrix events' signatures under room-version rules, with keys
 * from notaries (perspectives servers) or from the origin servers.
 */
export { Keyring, type KeyringOptions, type VerifyOptions, type EventVerification, type VerificationReport } from './keyring';
export {
  ROOM_VERSIONS,
  KNOWN_ROOM_VERSIONS,
  LATEST_KNOWN_ROOM_VERSION,
  roomVersionRules,
  UnknownRoomVersionError,
  type RoomVersionRules,
  type RedactionRules,
  type EventIdFormat,
} from './room-versions';
export { redactEvent, keptContentKeys } from './redaction';
export { computeContentHash, checkContentHash, type ContentHashCheck, type ContentHashStatus } from './content-hash';
export { eventIdOf, referenceHash } from './event-id';
export { checkEventShape, type EventFields, type EventShapeCheck } from './event-shape';
export { requiredSigners, isThirdPartyInvite, type RequiredSigners, type SigningRequirement, type SignerExemption } from './required-signers';
export {
  checkEventSignatures,
  keyNeedsOf,
  combineVerdicts,
  type Verdict,
  type SignatureOutcome,
  type SignatureCheck,
  type ServerCheck,
  type SignaturesCheck,
  type KeyUse,
  type KeyLookup,
  type KeyNeed,
} from './event-signatures';
export { judgeKeyValidity, keyValidityBound, type ValidityRule, type ValidityJudgement } from './key-validity';
export { keyRecordsFromResponse, type KeyRecord, type KeyKind } from './key-records';
export { MemoryKeyCache, DEFAULT_KEY_CACHE_MAX_KEYS, type KeyCache } from './key-cache';
export type { KeySource, KeyQuery, KeySourceResult, KeySourceFailure, KeySourceFailureReason } from './key-source';
export {
  NotaryKeySource,
  NotaryTrustError,
  NotaryUnreachableError,
  NOTARY_TIMEOUT_MS,
  NOTARY_MAX_RESPONSE_BYTES,
  type NotaryKeySourceOptions,
} from './notary-key-source';
export { trustNotaryKeyResponse, checkNotarySignature, decodePinnedKeys, PinnedKeyError, type NotaryIdentity, type PinnedKeys } from './notary-trust';
export { OriginKeySource, ORIGIN_FETCH_CONCURRENCY, type FetchServerKeys, type OriginKeySourceOptions } from './origin-key-source';
export { StaticKeySource } from './static-key-source';
export { TRANSIENT_RETRY, type RetryPolicy } from './retry';
export { originFetchSettingsFromEnv, OriginSettingsError, type OriginFetchSettings } from './origin-settings';
export { createHttpRequest, HttpRequestError, type HttpClientOptions, type HttpRequestFn, type HttpRequestOptions, type HttpResponse } from './http-request';
export { formatEventVerification, formatVerificationReport } from './report';
export { serverNameOfUserId, serverNameOfIdentifier } from './identifiers';
export {
  createFederationOriginKeySource,
  createFederationOriginKeySourceFromEnv,
  type FederationOriginKeySource,
} from './federation-origin';
