/** One time budget for a whole origin fetch, shared by every DNS query and HTTP exchange in it. */
import { OriginFetchError } from './errors';

export class Deadline {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly endsAt: number;
  private readonly onExternalAbort?: () => void;

  constructor(
    totalMs: number,
    private readonly external?: AbortSignal,
  ) {
    this.endsAt = Date.now() + totalMs;
    this.timer = setTimeout(
      () => this.controller.abort(new OriginFetchError('timeout', `no complete answer within ${totalMs} ms`)),
      totalMs,
    );
    if (external) {
      this.onExternalAbort = () => this.controller.abort(new OriginFetchError('aborted', 'the caller aborted the fetch'));
      if (external.aborted) this.onExternalAbort();
      else external.addEventListener('abort', this.onExternalAbort, { once: true });
    }
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  remainingMs(): number {
    return Math.max(0, this.endsAt - Date.now());
  }

  /** Rejects with the deadline's reason once it passes, whatever `work` is still doing. */
  race<T>(work: Promise<T>): Promise<T> {
    const signal = this.controller.signal;
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      work.then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        (e: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      );
    });
  }

  dispose(): void {
    clearTimeout(this.timer);
    if (this.external && this.onExternalAbort) this.external.removeEventListener('abort', this.onExternalAbort);
  }
}
