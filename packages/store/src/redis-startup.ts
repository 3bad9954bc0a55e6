/**
 * A role started while Redis is unreachable (DESIGN behaviour 11): it retries for up to 15 s,
 * saying so in one log line, then gives up with one line naming the variable that says where
 * Redis is (an orchestrator restarts the role; a person sees the typo). A refused password ends
 * the wait at once: retrying cannot fix it. The loop is pure apart from its clock and its
 * attempt, so it is tested with both injected.
 */
import { describeRedis, REDIS_LOCATION_VARIABLE, type RedisSettings } from '@matrix-notary/common';

/** How long a role waits for Redis at start before exiting. */
export const REDIS_STARTUP_WINDOW_MS = 15_000;
/** Pause between two attempts. */
export const REDIS_STARTUP_RETRY_MS = 500;

/** The reason given for an attempt that got no answer in its time. */
const TIMED_OUT = 'no answer (timed out)';

/** Ends a role's start: its message is the one line a person reads. */
export class RedisStartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedisStartupError';
  }
}

export interface StartupClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: StartupClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export interface StartupWaitOptions<T> {
  /** One try; its time limit is the time left, passed in. Throws when Redis does not answer. */
  attempt(timeLeftMs: number): Promise<T>;
  /** Called once, at the first failure, so the log says the role is waiting (one line). */
  onWaiting(reason: string): void;
  settings: RedisSettings;
  windowMs?: number;
  retryMs?: number;
  clock?: StartupClock;
}

/** Runs `attempt` until it succeeds, the window ends, or Redis refuses the password. */
export async function waitForRedisAtStart<T>(opts: StartupWaitOptions<T>): Promise<T> {
  const clock = opts.clock ?? realClock;
  const windowMs = opts.windowMs ?? REDIS_STARTUP_WINDOW_MS;
  const retryMs = opts.retryMs ?? REDIS_STARTUP_RETRY_MS;
  const deadline = clock.now() + windowMs;
  let reason = '';
  for (let attempts = 0; ; attempts++) {
    try {
      return await opts.attempt(Math.max(1, deadline - clock.now()));
    } catch (err) {
      const judged = judgeRedisError(err);
      if (judged.fatal) throw new RedisStartupError(judged.message(opts.settings));
      if (attempts === 0) opts.onWaiting(judged.reason);
      // The last attempt is often cut short by the window: an earlier, more telling reason stays.
      if (reason === '' || judged.reason !== TIMED_OUT) reason = judged.reason;
    }
    const left = deadline - clock.now();
    if (left <= 0) break;
    await clock.sleep(Math.min(retryMs, left));
  }
  throw new RedisStartupError(gaveUpMessage(opts.settings, windowMs, reason));
}


/** What a failed attempt means: retry (with the reason for the log), or stop with a message. */
export type JudgedRedisError =
  | { fatal: false; reason: string }
  | { fatal: true; reason: string; message(settings: RedisSettings): string };

const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_(VERIFY|GET)_)/;

/** What an error from ioredis means for a person (pure: tested with made-up errors). */
export function judgeRedisError(err: unknown): JudgedRedisError {
  const e = (err ?? {}) as NodeJS.ErrnoException & { hostname?: string };
  const text = typeof e.message === 'string' ? e.message : String(err);
  const code = typeof e.code === 'string' ? e.code : '';
  const retry = (reason: string): JudgedRedisError => ({ fatal: false, reason });

  if (/WRONGPASS|invalid password|invalid username-password/i.test(text)) {
    return {
      fatal: true,
      reason: 'password refused',
      message: (s) =>
        s.passwordFrom === 'REDIS_PASSWORD_FILE'
          ? 'Redis refused the password from REDIS_PASSWORD_FILE (WRONGPASS): put the right one in that file'
          : 'Redis refused the password in REDIS_URL (WRONGPASS): put the right one in REDIS_URL (redis://:PASSWORD@host:6379) or in a file named by REDIS_PASSWORD_FILE',
    };
  }
  if (/NOAUTH/.test(text)) {
    return {
      fatal: true,
      reason: 'a password is required',
      message: (s) =>
        s.password === undefined
          ? `${where(s)} requires a password (NOAUTH): put it in a file named by REDIS_PASSWORD_FILE, or in REDIS_URL (redis://:PASSWORD@host:6379)`
          : `${where(s)} asked for a password although the one from ${s.passwordFrom} was sent (NOAUTH): check that it is this Redis's password`,
    };
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME' || /ENOTFOUND|EAI_AGAIN/.test(text)) {
    return retry(`${e.hostname ? `the host name ${e.hostname}` : 'the host name'} does not resolve (${code || 'ENOTFOUND'})`);
  }
  if (code === 'ECONNREFUSED' || /ECONNREFUSED/.test(text)) return retry('nothing listens there (connection refused)');
  if (TLS_CODES.test(code) || /certificate|SSL routines|wrong version number/i.test(text)) {
    return retry(
      `TLS failed (${code || text.slice(0, 100)}): with rediss://, Redis must speak TLS with a certificate for that host from a CA this process trusts (NODE_EXTRA_CA_CERTS)`,
    );
  }
  if (code === 'ETIMEDOUT' || /ETIMEDOUT|timed out|timeout/i.test(text)) return retry(TIMED_OUT);
  if (/no master named|invalid reply: null/i.test(text)) return retry('the Sentinels know no master of that name (REDIS_SENTINEL_MASTER)');
  if (/All sentinels are unreachable/i.test(text)) return retry('no Sentinel answers');
  if (/CLUSTERDOWN|cluster_state/i.test(text)) return retry('the cluster does not serve every slot (cluster_state is not ok)');
  if (/None of startup nodes is available|Failed to refresh slots cache/i.test(text)) return retry('no cluster node answers');
  if (code === 'ECONNRESET' || /Connection is closed|ECONNRESET|socket hang up/i.test(text)) {
    return retry('the connection was closed (if Redis expects TLS, use rediss://)');
  }
  return retry(text.split('\n')[0].slice(0, 200));
}

function where(settings: RedisSettings): string {
  return `${describeRedis(settings)} (${REDIS_LOCATION_VARIABLE[settings.mode]})`;
}

function gaveUpMessage(settings: RedisSettings, windowMs: number, reason: string): string {
  const variable = REDIS_LOCATION_VARIABLE[settings.mode];
  const check =
    settings.mode === 'sentinel'
      ? `check REDIS_SENTINELS, REDIS_SENTINEL_MASTER and that the Sentinels run`
      : settings.mode === 'cluster'
        ? `check REDIS_CLUSTER_NODES and that the cluster runs`
        : `check that Redis runs there and that REDIS_URL is right`;
  return `${describeRedis(settings)} (${variable}) did not answer within ${Math.round(windowMs / 1000)} s: ${reason}; ${check}`;
}
