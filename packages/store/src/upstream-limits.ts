/**
 * Each upstream notary's own rate limit and backoff (NOTARY_UPSTREAM_NOTARIES_FILE), kept in Redis
 * so they hold across every worker: at most a number of asks per window, and after failed asks in
 * a row a doubling wait before the next (permit-upstream-1.lua, record-upstream-1.lua).
 */
import { upstreamRecordKey } from './keys';
import type { RedisClient } from './redis';
import { registerScripts } from './scripts';

export type UpstreamPermit = { allowed: true } | { allowed: false; why: 'backing_off' | 'rate_limited'; waitMs: number };

export interface UpstreamLimitSettings {
  windowMs: number;
  asksPerWindow: number;
  firstBackoffMs: number;
  maxBackoffMs: number;
}

export class UpstreamLimits {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly settings: UpstreamLimitSettings,
  ) {
    registerScripts(redis);
  }

  /** Whether `upstream` may be asked now; an allowed ask is counted in its window. */
  async permit(upstream: string, nowMs: number): Promise<UpstreamPermit> {
    const { windowMs, asksPerWindow } = this.settings;
    const [verdict, waitMs] = await this.redis.notaryPermitUpstream(upstreamRecordKey(this.prefix, upstream), nowMs, windowMs, asksPerWindow);
    if (verdict === 1) return { allowed: true };
    return { allowed: false, why: verdict === 0 ? 'backing_off' : 'rate_limited', waitMs };
  }

  /** Records how an ask went: a failure extends the upstream's backoff, an answer ends it. */
  async record(upstream: string, nowMs: number, failed: boolean): Promise<{ failures: number; waitMs: number }> {
    const { firstBackoffMs, maxBackoffMs } = this.settings;
    const [failures, waitMs] = await this.redis.notaryRecordUpstream(
      upstreamRecordKey(this.prefix, upstream),
      nowMs,
      failed ? '1' : '0',
      firstBackoffMs,
      maxBackoffMs,
    );
    return { failures, waitMs };
  }
}
