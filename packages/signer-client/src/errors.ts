/**
 * What can go wrong when asking a signer, in-process or over HTTP: it refused the input, or it
 * could not be asked. Callers tell them apart with `instanceof`; RemoteSigner turns the wire
 * errors back into these same classes, so a caller never depends on where its signer runs.
 */
import type { KeyResponseRefusalReason } from '@matrix-notary/protocol';

/**
 * Why a countersignature was refused: a protocol check's reason, or one the signer adds
 * (`not_json`; `own_name`, a response naming the notary itself; `too_large`, over the signer's
 * body limit, which only the HTTP signer has).
 */
export type SignerRefusalReason = KeyResponseRefusalReason | 'not_json' | 'own_name' | 'too_large';

/** The input is not something the notary may countersign. Retrying the same input will not help. */
export class SignerRefusedError extends Error {
  readonly reason: SignerRefusalReason;

  constructor(reason: SignerRefusalReason, message: string) {
    super(message);
    this.name = 'SignerRefusedError';
    this.reason = reason;
  }
}

/** The signer could not be asked (down, misconfigured, timed out). The message says what to check. */
export class SignerUnavailableError extends Error {
  /**
   * True when asking again later may work (not reachable, timed out, a 5xx): an outage. False
   * for what only a change of configuration fixes (a wrong token, URL or server name).
   */
  readonly transient: boolean;

  constructor(message: string, options: { cause?: unknown; transient?: boolean } = {}) {
    super(message, { cause: options.cause });
    this.name = 'SignerUnavailableError';
    this.transient = options.transient ?? false;
  }
}
