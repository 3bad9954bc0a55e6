/**
 * Every way an origin fetch can fail, as one error type with a short machine word (`reason`) that
 * the worker records and the metrics use as a label.
 */

/** The notary chose not to go on: a guard against a hostile or broken origin fired. */
export const ORIGIN_FETCH_REFUSAL_REASONS = [
  'invalid_server_name',
  'forbidden_address',
  'connect_timeout',
  'timeout',
  'tls',
  'too_large',
  'redirect',
] as const;

/** The origin could not be reached or answered something other than a key response. */
export const ORIGIN_FETCH_FAILURE_REASONS = ['dns', 'connection', 'http_status', 'bad_response', 'aborted'] as const;

export type OriginFetchRefusalReason = (typeof ORIGIN_FETCH_REFUSAL_REASONS)[number];
export type OriginFetchFailureReason = (typeof ORIGIN_FETCH_FAILURE_REASONS)[number];
export type OriginFetchReason = OriginFetchRefusalReason | OriginFetchFailureReason;

const REFUSALS: ReadonlySet<string> = new Set(ORIGIN_FETCH_REFUSAL_REASONS);

export class OriginFetchError extends Error {
  readonly reason: OriginFetchReason;
  /**
   * Some step of the origin's discovery (its `.well-known`, an SRV target, the address it resolved
   * to) led to an address the policy forbids, whatever the final reason: such an origin is never
   * learned from upstream notaries.
   */
  readonly hitForbiddenAddress: boolean;

  constructor(reason: OriginFetchReason, message: string, options?: { cause?: unknown; hitForbiddenAddress?: boolean }) {
    super(message, options);
    this.name = 'OriginFetchError';
    this.reason = reason;
    this.hitForbiddenAddress = options?.hitForbiddenAddress === true || reason === 'forbidden_address';
  }

  /** True when a guard refused the origin, as opposed to the origin simply failing. */
  get refused(): boolean {
    return REFUSALS.has(this.reason);
  }
}

// OpenSSL's certificate verification codes, as Node puts them in `err.code`.
const TLS_VERIFY_CODES: ReadonlySet<string> = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
]);

const CONNECTION_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'EPIPE',
  'ETIMEDOUT',
  'EADDRNOTAVAIL',
]);

const DNS_CODES: ReadonlySet<string> = new Set(['ENOTFOUND', 'EAI_AGAIN', 'ENODATA', 'ESERVFAIL', 'ETIMEOUT', 'EREFUSED', 'ECANCELLED']);

/** Maps whatever Node threw while talking to an origin onto an OriginFetchError. */
export function toOriginFetchError(err: unknown, context: string): OriginFetchError {
  if (err instanceof OriginFetchError) return err;
  const e = err as NodeJS.ErrnoException | undefined;
  const code = typeof e?.code === 'string' ? e.code : '';
  const detail = e?.message ?? String(err);
  if (TLS_VERIFY_CODES.has(code) || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_') || code === 'EPROTO') {
    return new OriginFetchError('tls', `${context}: TLS failed (${code}): ${detail}`, { cause: err });
  }
  if (DNS_CODES.has(code)) {
    return new OriginFetchError('dns', `${context}: DNS failed (${code}): ${detail}`, { cause: err });
  }
  if (code.startsWith('HPE_')) {
    return new OriginFetchError('bad_response', `${context}: malformed HTTP (${code}): ${detail}`, { cause: err });
  }
  if (CONNECTION_CODES.has(code)) {
    return new OriginFetchError('connection', `${context}: connection failed (${code}): ${detail}`, { cause: err });
  }
  return new OriginFetchError('connection', `${context}: ${code ? `${code}: ` : ''}${detail}`, { cause: err });
}
