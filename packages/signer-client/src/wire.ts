/**
 * The signer's internal HTTP API, shared by the server (in @matrix-notary/signer) and RemoteSigner
 * so the two cannot drift: paths and the error body. Error codes are the notary's one Matrix
 * vocabulary (MatrixErrcode in @matrix-notary/common); the signer answers with these:
 * M_MISSING_TOKEN and M_UNKNOWN_TOKEN (401), M_TOO_LARGE (413), M_NOT_SIGNABLE (400, with the
 * refusal's `reason`), M_UNRECOGNIZED (404, 405), M_UNKNOWN (500).
 */
import type { MatrixErrcode } from '@matrix-notary/common';

export const OWN_KEYS_PATH = '/_notary/signer/v1/own-keys';
export const COUNTERSIGN_PATH = '/_notary/signer/v1/countersign';
export const HEALTH_PATH = '/healthz';

/** A Matrix error body; `reason` only with M_NOT_SIGNABLE. */
export interface SignerErrorBody {
  errcode: MatrixErrcode;
  error: string;
  reason?: string;
}
