/**
 * The signer's internal HTTP API, shared by the server and RemoteSigner so the two cannot drift:
 * paths, error codes, and the error body shape.
 */
export const OWN_KEYS_PATH = '/_notary/signer/v1/own-keys';
export const COUNTERSIGN_PATH = '/_notary/signer/v1/countersign';
export const HEALTH_PATH = '/healthz';

export type SignerErrcode =
  | 'M_MISSING_TOKEN'
  | 'M_UNKNOWN_TOKEN'
  | 'M_TOO_LARGE'
  | 'M_NOT_SIGNABLE'
  | 'M_UNRECOGNIZED'
  | 'M_UNKNOWN';

/** A Matrix-style error body; `reason` only with M_NOT_SIGNABLE. */
export interface SignerErrorBody {
  errcode: SignerErrcode;
  error: string;
  reason?: string;
}
