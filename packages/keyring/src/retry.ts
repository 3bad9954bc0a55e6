/**
 * Retrying what failed in transit (network, timeout, a server's 5xx): a few attempts with doubling
 * waits, so a notary that blinks does not fail a whole batch of verifications. Failures that are
 * answers (a bad signature, a pin mismatch) are never retried: asking again gives the same answer.
 */
export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  /** Wait before the second attempt; each later wait doubles, up to maxDelayMs. */
  firstDelayMs: number;
  maxDelayMs: number;
  /** Waits `ms` (or rejects when `signal` aborts); tests pass one that does not sleep. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export const TRANSIENT_RETRY: RetryPolicy = { attempts: 3, firstDelayMs: 250, maxDelayMs: 2000 };

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error('aborted'));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason ?? new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs `attempt` until it succeeds, fails for good, or the attempts are used up (the last error wins). */
export async function retryTransient<T>(
  attempt: () => Promise<T>,
  isTransient: (err: unknown) => boolean,
  policy: RetryPolicy,
  signal?: AbortSignal,
): Promise<T> {
  const wait = policy.sleep ?? sleep;
  let delay = policy.firstDelayMs;
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (n >= policy.attempts || !isTransient(err) || signal?.aborted) throw err;
    }
    await wait(delay, signal);
    delay = Math.min(delay * 2, policy.maxDelayMs);
  }
}
