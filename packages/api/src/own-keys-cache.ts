/**
 * The notary's own /_matrix/key/v2/server response, fetched from the signer and kept as bytes.
 * It is renewed in the background once half its validity has passed, and at least every
 * RECHECK_MS, so callers never wait for the signer, never receive a response that is about to
 * expire, and see a signer restarted with other keys (a rotation) within a minute.
 */
import type { Logger } from '@matrix-notary/common';

/** Longest time a response is served before the signer is asked again. */
export const OWN_KEYS_RECHECK_MS = 60_000;

export interface OwnKeysSource {
  ownKeys(): Promise<{ bytes: Buffer; validUntilTs: number }>;
}

export class OwnKeysCache {
  private cached?: { bytes: Buffer; validUntilTs: number; renewAt: number };
  private renewing?: Promise<void>;

  constructor(
    private readonly source: OwnKeysSource,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Loads the first response; start-up fails if the signer cannot be reached. */
  async start(): Promise<void> {
    await this.renew();
  }

  private async renew(): Promise<void> {
    const fetchedAt = this.now();
    const { bytes, validUntilTs } = await this.source.ownKeys();
    this.cached = { bytes, validUntilTs, renewAt: fetchedAt + Math.min(Math.max(0, validUntilTs - fetchedAt) / 2, OWN_KEYS_RECHECK_MS) };
  }

  /** The bytes to serve when they need no renewal: the synchronous fast path. */
  current(): Buffer | undefined {
    const cur = this.cached;
    return cur !== undefined && this.now() < cur.renewAt ? cur.bytes : undefined;
  }

  /** The bytes to serve; renews in the background when due, and waits only when it has none left. */
  async get(): Promise<Buffer> {
    const now = this.now();
    const cur = this.cached;
    if (cur && now < cur.renewAt) return cur.bytes;
    if (!this.renewing) {
      this.renewing = this.renew()
        .catch((err: Error) => {
          this.logger.error({ err: err.message }, "could not renew the notary's own key response from the signer");
        })
        .finally(() => {
          this.renewing = undefined;
        });
    }
    if (cur && now < cur.validUntilTs) return cur.bytes;
    await this.renewing;
    if (!this.cached || this.now() >= this.cached.validUntilTs) {
      throw new Error("the notary's own key response has expired and the signer cannot renew it");
    }
    return this.cached.bytes;
  }
}
