/**
 * The two limits on what one client may make the notary do (DESIGN behaviour 9), counted in Redis
 * so they hold across every api pod, through rate-limiter-flexible (a well-kept library; no
 * hand-written limiter):
 *  - requests: NOTARY_CLIENT_REQUESTS_PER_S on average, NOTARY_CLIENT_BURST at once. Counted in
 *    fixed windows of BURST / REQUESTS_PER_S seconds (at least one) allowing REQUESTS_PER_S × the
 *    window's length requests, so the long-run rate is the configured one and a burst of BURST
 *    passes; a client over it is then refused from memory until its window ends, so a flood
 *    costs Redis nothing.
 *  - new origins: NOTARY_CLIENT_NEW_ORIGINS_PER_MIN origins the notary holds nothing for, that
 *    one client's queries may make it contact in a minute; the rest are left out of its answer.
 * When Redis cannot be reached, each pod counts on its own in memory (the limits still hold,
 * per pod), and queries are answered as behaviour 11 says.
 */
import type { RedisClient } from '@matrix-notary/store';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { ClientLimitsConfig } from './config';
import type { Client } from './client-address';

export type RequestVerdict = { ok: true } | { ok: false; retryAfterMs: number };

const ALLOWED: RequestVerdict = { ok: true };
const NEW_ORIGINS_WINDOW_S = 60;

export interface LimitWindow {
  points: number;
  durationS: number;
}

/** The request limit's window: BURST / RATE seconds (at least 1), RATE × that many requests. */
export function requestWindow(requestsPerS: number, burst: number): LimitWindow {
  const durationS = Math.max(1, Math.round(burst / requestsPerS));
  return { points: requestsPerS * durationS, durationS };
}

function limiter(redis: RedisClient, keyPrefix: string, window: LimitWindow): RateLimiterRedis {
  return new RateLimiterRedis({
    storeClient: redis,
    keyPrefix,
    points: window.points,
    duration: window.durationS,
    // Once over, refused from memory until the window ends: no Redis work per flooding request.
    inMemoryBlockOnConsumed: window.points + 1,
    // While the connection is down, count in memory at once rather than wait for it.
    rejectIfRedisNotReady: true,
    insuranceLimiter: new RateLimiterMemory({ keyPrefix, points: window.points, duration: window.durationS }),
  });
}

export class ClientLimits {
  private readonly requests?: RateLimiterRedis;
  private readonly newOrigins?: RateLimiterRedis;
  private readonly newOriginsPoints: number;

  constructor(redis: RedisClient, prefix: string, config: ClientLimitsConfig) {
    if (config.requestsPerS > 0) {
      this.requests = limiter(redis, `${prefix}:limit:requests`, requestWindow(config.requestsPerS, config.burst));
    }
    this.newOriginsPoints = config.newOriginsPerMin;
    if (config.newOriginsPerMin > 0) {
      this.newOrigins = limiter(redis, `${prefix}:limit:new-origins`, { points: config.newOriginsPerMin, durationS: NEW_ORIGINS_WINDOW_S });
    }
  }

  /** Counts one request of `client`; says when to come back if it is over its limit. */
  async admitRequest(client: Client): Promise<RequestVerdict> {
    if (this.requests === undefined || client.unlimited) return ALLOWED;
    try {
      await this.requests.consume(client.key);
      return ALLOWED;
    } catch (res) {
      if (res instanceof RateLimiterRes) return { ok: false, retryAfterMs: Math.max(1, res.msBeforeNext) };
      throw res;
    }
  }

  /**
   * How many of `wanted` new origins `client` may make the notary contact now (the first ones of
   * its query are taken). One atomic count in Redis: the whole query is counted, what passes the
   * budget is what the count left room for.
   */
  async admitNewOrigins(client: Client, wanted: number): Promise<number> {
    if (this.newOrigins === undefined || client.unlimited || wanted === 0) return wanted;
    let consumed: number;
    try {
      consumed = (await this.newOrigins.consume(client.key, wanted)).consumedPoints;
    } catch (res) {
      if (!(res instanceof RateLimiterRes)) throw res;
      // Refused from memory (the client spent its budget earlier): nothing was counted, no room.
      if (res.consumedPoints < wanted) return 0;
      consumed = res.consumedPoints;
    }
    const before = consumed - wanted;
    return Math.max(0, Math.min(wanted, this.newOriginsPoints - before));
  }
}
