/**
 * Where Redis is and how to reach it (REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES,
 * REDIS_PASSWORD_FILE) and the signer token from a file: what each setting gives, and the one
 * message each mistake gets, naming the variable and never echoing a secret.
 */
import { ConfigError, describeRedis, readRedisSettings, readSignerToken, redisSettingsFromUrl, VariableReader } from '../src';

function read(env: Record<string, string>, files: Record<string, string> = {}) {
  const reader = new VariableReader(env);
  const readFile = (p: string) => {
    if (!(p in files)) throw Object.assign(new Error(`ENOENT: no such file ${p}`), { code: 'ENOENT' });
    return files[p];
  };
  const settings = readRedisSettings(reader, readFile);
  const token = env.NOTARY_SIGNER_TOKEN !== undefined || env.NOTARY_SIGNER_TOKEN_FILE !== undefined ? readSignerToken(reader, readFile) : undefined;
  let problems: string[] = [];
  try {
    reader.done();
  } catch (err) {
    problems = (err as ConfigError).problems;
  }
  return { settings, token, problems };
}

describe('REDIS_URL', () => {
  test('defaults to one Redis on 127.0.0.1:6379, database 0, no TLS, no password', () => {
    const { settings, problems } = read({});
    expect(problems).toEqual([]);
    expect(settings).toMatchObject({ mode: 'standalone', host: '127.0.0.1', port: 6379, db: 0, tls: false });
    expect(settings.password).toBeUndefined();
  });

  test('rediss:// turns on TLS; user, password (percent-decoded) and database come from the URL', () => {
    const { settings, problems } = read({ REDIS_URL: 'rediss://notary:p%40ss%3Aword@redis.internal:6380/3' });
    expect(problems).toEqual([]);
    expect(settings).toMatchObject({ host: 'redis.internal', port: 6380, db: 3, tls: true, username: 'notary', passwordFrom: 'REDIS_URL' });
    expect(settings.password).toBe('p@ss:word');
  });

  test('an IPv6 host loses its brackets', () => {
    expect(read({ REDIS_URL: 'redis://[::1]:7000' }).settings).toMatchObject({ host: '::1', port: 7000 });
  });

  test.each(['http://redis.internal:6379', 'https://x', 'redis.internal:6379', 'tcp://127.0.0.1:6379'])('%s is refused, naming REDIS_URL', (url) => {
    const { problems } = read({ REDIS_URL: url });
    expect(problems).toEqual(['REDIS_URL must be a redis:// or rediss:// (TLS) URL such as redis://127.0.0.1:6379']);
  });

  test('a path that is not a database number, and query parameters, are refused', () => {
    expect(read({ REDIS_URL: 'redis://h:6379/cache' }).problems).toEqual(['REDIS_URL path must be a database number, such as redis://host:6379/0']);
    expect(read({ REDIS_URL: 'redis://h:6379?tls=true' }).problems[0]).toMatch(/^REDIS_URL must not carry query parameters/);
  });

  test('the password never appears in the settings as JSON, in describeRedis, or in a problem', () => {
    const { settings } = read({ REDIS_URL: 'redis://:hunter2-secret@h:6379' });
    expect(JSON.stringify(settings)).not.toContain('hunter2');
    expect(describeRedis(settings)).toBe('Redis at redis://h:6379');
    const bad = read({ REDIS_URL: 'redis://:hunter2-secret@h:6379/nope' });
    expect(bad.problems.join()).not.toContain('hunter2');
  });
});

describe('REDIS_PASSWORD_FILE', () => {
  test('wins over a password in REDIS_URL; one trailing newline is not part of it', () => {
    const { settings, problems } = read({ REDIS_URL: 'redis://:from-url@h:6379', REDIS_PASSWORD_FILE: '/run/secrets/redis' }, { '/run/secrets/redis': 'from-file\n' });
    expect(problems).toEqual([]);
    expect(settings.password).toBe('from-file');
    expect(settings.passwordFrom).toBe('REDIS_PASSWORD_FILE');
  });

  test('a missing or empty file is a problem naming the variable and the file', () => {
    expect(read({ REDIS_PASSWORD_FILE: '/nope' }).problems).toEqual([
      'REDIS_PASSWORD_FILE /nope cannot be read (ENOENT): check the path and that this user may read it',
    ]);
    expect(read({ REDIS_PASSWORD_FILE: '/empty' }, { '/empty': '\n' }).problems).toEqual(['REDIS_PASSWORD_FILE /empty is empty']);
  });
});

describe('REDIS_SENTINELS and REDIS_CLUSTER_NODES', () => {
  test('Sentinels: host:port list (port 26379 by default), the master name, and REDIS_URL for password, TLS and database', () => {
    const { settings, problems } = read({
      REDIS_SENTINELS: 's1.internal:26380, [fd00::2]:26379,s3.internal',
      REDIS_SENTINEL_MASTER: 'notary',
      REDIS_URL: 'rediss://:pw@ignored-host:1/2',
    });
    expect(problems).toEqual([]);
    expect(settings).toMatchObject({
      mode: 'sentinel',
      sentinels: [
        { host: 's1.internal', port: 26380 },
        { host: 'fd00::2', port: 26379 },
        { host: 's3.internal', port: 26379 },
      ],
      sentinelMaster: 'notary',
      tls: true,
      db: 2,
    });
    expect(settings.password).toBe('pw');
    expect(describeRedis(settings)).toBe('the Redis master "notary" of the Sentinels s1.internal:26380,[fd00::2]:26379,s3.internal:26379 (TLS)');
  });

  test('the master name defaults to mymaster', () => {
    expect(read({ REDIS_SENTINELS: '10.0.0.1:26379' }).settings.sentinelMaster).toBe('mymaster');
  });

  test('Cluster: seed nodes (port 6379 by default)', () => {
    const { settings, problems } = read({ REDIS_CLUSTER_NODES: '10.0.0.1:7000,10.0.0.2' });
    expect(problems).toEqual([]);
    expect(settings).toMatchObject({ mode: 'cluster', clusterNodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 6379 }] });
    expect(describeRedis(settings)).toBe('the Redis Cluster at 10.0.0.1:7000,10.0.0.2:6379');
  });

  test('both at once, a bad entry, or a database other than 0 on a cluster are problems naming the variable', () => {
    expect(read({ REDIS_SENTINELS: 'a:1', REDIS_CLUSTER_NODES: 'b:2' }).problems).toEqual([
      'REDIS_SENTINELS and REDIS_CLUSTER_NODES are both set: set the one that matches your Redis',
    ]);
    expect(read({ REDIS_CLUSTER_NODES: '10.0.0.1:99999' }).problems).toEqual([
      'REDIS_CLUSTER_NODES must list host:port entries such as 10.0.0.1:6379 or [fd00::1]:6379',
    ]);
    expect(read({ REDIS_SENTINELS: 'http://x:1' }).problems[0]).toMatch(/^REDIS_SENTINELS must list host:port entries/);
    expect(read({ REDIS_CLUSTER_NODES: 'a:1', REDIS_URL: 'redis://h/4' }).problems).toEqual([
      'REDIS_URL names database 4, but a Redis Cluster has only database 0: drop the path from REDIS_URL',
    ]);
  });
});

describe('NOTARY_SIGNER_TOKEN_FILE', () => {
  const TOKEN = 'a-long-random-signer-token-0123';

  test('gives the token, without a trailing newline', () => {
    expect(read({ NOTARY_SIGNER_TOKEN_FILE: '/t' }, { '/t': `${TOKEN}\n` })).toMatchObject({ token: TOKEN, problems: [] });
  });

  test('is held to the token rules, without echoing the token', () => {
    const { problems } = read({ NOTARY_SIGNER_TOKEN_FILE: '/t' }, { '/t': 'short-secret' });
    expect(problems).toEqual(['NOTARY_SIGNER_TOKEN_FILE /t: the token must be at least 16 characters (use a long random string)']);
    expect(problems.join()).not.toContain('short-secret');
  });

  test('set together with NOTARY_SIGNER_TOKEN is a problem; neither set names both', () => {
    expect(read({ NOTARY_SIGNER_TOKEN_FILE: '/t', NOTARY_SIGNER_TOKEN: TOKEN }, { '/t': TOKEN }).problems).toEqual([
      'NOTARY_SIGNER_TOKEN and NOTARY_SIGNER_TOKEN_FILE are both set: set only one',
    ]);
    const reader = new VariableReader({});
    readSignerToken(reader);
    expect(() => reader.done()).toThrow(/NOTARY_SIGNER_TOKEN is required: .*NOTARY_SIGNER_TOKEN_FILE/);
  });
});

test('redisSettingsFromUrl refuses what REDIS_URL refuses', () => {
  expect(() => redisSettingsFromUrl('http://h')).toThrow('REDIS_URL must be a redis:// or rediss:// (TLS) URL');
  expect(redisSettingsFromUrl('redis://h:1/2')).toMatchObject({ mode: 'standalone', host: 'h', port: 1, db: 2 });
});
