/**
 * A split api or worker role checks its signer before it serves or consumes anything: a wrong
 * token, URL or server name fails the start at once with the signer client's message; a signer
 * that is not reachable yet (started at the same moment, restarting) is waited for, up to
 * SIGNER_START_WAIT_MS, saying so once in the log, as for Redis.
 */
import type { Logger } from '@matrix-notary/common';
import { SignerUnavailableError, type NotarySigner } from '@matrix-notary/signer-client';

export const SIGNER_START_WAIT_MS = 15_000;
const RETRY_EVERY_MS = 500;

export interface WaitClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: WaitClock = {
  now: Date.now,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export async function waitForSigner(
  signer: Pick<NotarySigner, 'ownKeys'>,
  signerUrl: string,
  logger: Pick<Logger, 'warn'>,
  waitMs = SIGNER_START_WAIT_MS,
  clock: WaitClock = realClock,
): Promise<void> {
  const deadline = clock.now() + waitMs;
  let told = false;
  for (;;) {
    try {
      await signer.ownKeys();
      return;
    } catch (err) {
      if (!(err instanceof SignerUnavailableError) || !err.transient) throw err;
      if (clock.now() + RETRY_EVERY_MS > deadline) {
        throw new SignerUnavailableError(`${err.message} (waited ${Math.round(waitMs / 1000)} s)`, { cause: err });
      }
      if (!told) {
        logger.warn({ signer: signerUrl, err: err.message }, `the signer is not reachable yet: retrying for up to ${Math.round(waitMs / 1000)} s`);
        told = true;
      }
    }
    await clock.sleep(RETRY_EVERY_MS);
  }
}
