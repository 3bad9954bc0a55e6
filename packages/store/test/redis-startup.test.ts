/**
 * The start-up wait for Redis (DESIGN behaviour 11), driven by an injected clock: retries for the
 * whole window and no longer, one "waiting" line however many attempts, a refused password ends
 * it at once, and the final message names the variable and what to check.
 */
import type { RedisSettings } from '@matrix-notary/common';
import { judgeRedisError, REDIS_STARTUP_WINDOW_MS, RedisStartupError, waitForRedisAtStart, type StartupClock } from '@matrix-notary/store';

function settings(partial: Partial<RedisSettings> = {}, password?: string, passwordFrom?: RedisSettings['passwordFrom']): RedisSettings {
  const s: RedisSettings = {
    mode: 'standalone',
    host: '10.0.0.9',
    port: 6379,
    db: 0,
    tls: false,
    sentinels: [],
    sentinelMaster: 'mymaster',
    clusterNodes: [],
    passwordFrom,
    ...partial,
  };
  Object.defineProperty(s, 'password', { value: password, enumerable: false });
  return s;
}

/** A clock that only moves when slept on, and records the attempts' times. */
function fakeClock(): StartupClock & { sleeps: number[] } {
  let now = 1_000_000;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
    },
  };
}

const refused = () => Object.assign(new Error('connect ECONNREFUSED 10.0.0.9:6379'), { code: 'ECONNREFUSED' });

test('Redis that never answers: attempts for 15 s of the clock, one waiting line, then one message naming REDIS_URL', async () => {
  const clock = fakeClock();
  const waiting: string[] = [];
  let attempts = 0;
  const start = clock.now();
  const failure = waitForRedisAtStart({
    settings: settings(),
    clock,
    onWaiting: (reason) => waiting.push(reason),
    attempt: async () => {
      attempts++;
      throw refused();
    },
  });
  await expect(failure).rejects.toThrow(RedisStartupError);
  await expect(failure).rejects.toThrow(
    'Redis at redis://10.0.0.9:6379 (REDIS_URL) did not answer within 15 s: nothing listens there (connection refused); check that Redis runs there and that REDIS_URL is right',
  );
  expect(clock.now() - start).toBe(REDIS_STARTUP_WINDOW_MS);
  expect(attempts).toBe(REDIS_STARTUP_WINDOW_MS / 500 + 1);
  expect(waiting).toEqual(['nothing listens there (connection refused)']);
});

test('Redis that answers after a few attempts: resolves with what the attempt gave, one waiting line', async () => {
  const clock = fakeClock();
  const waiting: string[] = [];
  let attempts = 0;
  const result = await waitForRedisAtStart({
    settings: settings(),
    clock,
    onWaiting: (reason) => waiting.push(reason),
    attempt: async () => {
      if (++attempts < 4) throw refused();
      return 'up';
    },
  });
  expect(result).toBe('up');
  expect(waiting).toHaveLength(1);
  expect(clock.sleeps).toEqual([500, 500, 500]);
});

test('no waiting line when the first attempt succeeds', async () => {
  const waiting: string[] = [];
  await waitForRedisAtStart({ settings: settings(), clock: fakeClock(), onWaiting: (r) => waiting.push(r), attempt: async () => true });
  expect(waiting).toEqual([]);
});

test('each attempt is given the time left in the window', async () => {
  const clock = fakeClock();
  const given: number[] = [];
  await expect(
    waitForRedisAtStart({
      settings: settings(),
      clock,
      windowMs: 1200,
      onWaiting: () => undefined,
      attempt: async (left) => {
        given.push(left);
        throw refused();
      },
    }),
  ).rejects.toThrow('did not answer within 1 s');
  expect(given).toEqual([1200, 700, 200, 1]);
});

test('a refused password ends the wait at once and says where the password goes', async () => {
  const clock = fakeClock();
  let attempts = 0;
  const wrong = waitForRedisAtStart({
    settings: settings({}, 'x', 'REDIS_PASSWORD_FILE'),
    clock,
    onWaiting: () => undefined,
    attempt: async () => {
      attempts++;
      throw new Error('WRONGPASS invalid username-password pair or user is disabled.');
    },
  });
  await expect(wrong).rejects.toThrow('Redis refused the password from REDIS_PASSWORD_FILE (WRONGPASS): put the right one in that file');
  expect(attempts).toBe(1);
  expect(clock.sleeps).toEqual([]);

  const none = waitForRedisAtStart({
    settings: settings(),
    clock,
    onWaiting: () => undefined,
    attempt: async () => {
      throw new Error('NOAUTH Authentication required.');
    },
  });
  await expect(none).rejects.toThrow(
    'Redis at redis://10.0.0.9:6379 (REDIS_URL) requires a password (NOAUTH): put it in a file named by REDIS_PASSWORD_FILE, or in REDIS_URL (redis://:PASSWORD@host:6379)',
  );
});

test('the final message keeps a telling reason over the time-out of a last, cut-short attempt', async () => {
  const clock = fakeClock();
  let attempts = 0;
  await expect(
    waitForRedisAtStart({
      settings: settings({ mode: 'cluster', clusterNodes: [{ host: '10.0.0.1', port: 7000 }] }),
      clock,
      windowMs: 1000,
      onWaiting: () => undefined,
      attempt: async () => {
        throw ++attempts === 1 ? Object.assign(new Error('getaddrinfo ENOTFOUND redis-0.redis'), { code: 'ENOTFOUND', hostname: 'redis-0.redis' }) : new Error('timed out after 3 ms');
      },
    }),
  ).rejects.toThrow(
    'the Redis Cluster at 10.0.0.1:7000 (REDIS_CLUSTER_NODES) did not answer within 1 s: the host name redis-0.redis does not resolve (ENOTFOUND); check REDIS_CLUSTER_NODES and that the cluster runs',
  );
});

describe('judgeRedisError', () => {
  test.each([
    [{ message: 'connect ECONNREFUSED 1.2.3.4:6379', code: 'ECONNREFUSED' }, 'nothing listens there (connection refused)'],
    [{ message: 'getaddrinfo EAI_AGAIN redis', code: 'EAI_AGAIN', hostname: 'redis' }, 'the host name redis does not resolve (EAI_AGAIN)'],
    [{ message: 'connect ETIMEDOUT' , code: 'ETIMEDOUT' }, 'no answer (timed out)'],
    [{ message: 'self-signed certificate in certificate chain', code: 'SELF_SIGNED_CERT_IN_CHAIN' }, /^TLS failed \(SELF_SIGNED_CERT_IN_CHAIN\): .*NODE_EXTRA_CA_CERTS/],
    [{ message: 'write EPROTO ... wrong version number', code: 'EPROTO' }, /^TLS failed/],
    [{ message: 'Connection is closed.' }, 'the connection was closed (if Redis expects TLS, use rediss://)'],
    [{ message: 'connected to sentinel 1.2.3.4:26379 successfully, but got an invalid reply: null' }, /no master of that name \(REDIS_SENTINEL_MASTER\)/],
    [{ message: 'All sentinels are unreachable and retry is disabled.' }, 'no Sentinel answers'],
    [{ message: 'cluster_state is not ok' }, /does not serve every slot/],
    [{ message: 'None of startup nodes is available' }, 'no cluster node answers'],
  ])('%j → retry: %s', (err, reason) => {
    const judged = judgeRedisError(Object.assign(new Error(err.message), err));
    expect(judged.fatal).toBe(false);
    if (typeof reason === 'string') expect(judged.reason).toBe(reason);
    else expect(judged.reason).toMatch(reason);
  });

  test('NOAUTH with a password sent says which variable it came from', () => {
    const judged = judgeRedisError(new Error('NOAUTH Authentication required.'));
    expect(judged.fatal).toBe(true);
    if (judged.fatal) expect(judged.message(settings({}, 'pw', 'REDIS_URL'))).toMatch(/although the one from REDIS_URL was sent/);
  });
});
