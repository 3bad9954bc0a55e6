/** What `all` fills in on a bare machine, from the environment alone (the pure half of startAll). */
import { firstRunDefaults } from '../src/first-run-defaults';

const token = () => 'generated-token-0123456789';

test('a bare environment: the name from the default port, a token, a key at the default path, no Redis named', () => {
  const env = {};
  expect(firstRunDefaults(env, token)).toEqual({
    env: { NOTARY_SERVER_NAME: 'localhost:8080', NOTARY_SIGNER_TOKEN: 'generated-token-0123456789' },
    serverName: 'from_port',
    createKeyAt: './data/signing.key',
    redisConfigured: false,
  });
  expect(env).toEqual({}); // the caller's environment is left as it was
});

test('the name is made from NOTARY_PORT; with port 0 it waits for the port the listener gets', () => {
  expect(firstRunDefaults({ NOTARY_PORT: '9000' }, token)).toMatchObject({ env: { NOTARY_SERVER_NAME: 'localhost:9000' }, serverName: 'from_port' });
  expect(firstRunDefaults({ NOTARY_PORT: ' 0 ' }, token)).toMatchObject({ env: { NOTARY_SERVER_NAME: 'localhost' }, serverName: 'from_listener' });
});

test('a bad NOTARY_PORT leaves a name that validation will not blame (the port is reported)', () => {
  expect(firstRunDefaults({ NOTARY_PORT: '80800' }, token)).toMatchObject({ env: { NOTARY_SERVER_NAME: 'localhost' }, serverName: 'from_port' });
});

test('what is given is kept, and nothing is filled in for it', () => {
  const given = {
    NOTARY_SERVER_NAME: 'notary.example.org',
    NOTARY_SIGNER_TOKEN_FILE: '/run/secrets/token',
    NOTARY_SIGNING_KEY_FILE: '/etc/notary/signing.key',
    REDIS_URL: 'redis://10.0.0.5:6379',
  };
  expect(firstRunDefaults(given, token)).toEqual({ env: given, serverName: 'given', createKeyAt: undefined, redisConfigured: true });
  expect(firstRunDefaults({ NOTARY_SIGNER_TOKEN: 'x'.repeat(20) }, token).env.NOTARY_SIGNER_TOKEN).toBe('x'.repeat(20));
});

test('Sentinels or cluster nodes name a Redis too; blank values count as unset', () => {
  expect(firstRunDefaults({ REDIS_SENTINELS: '10.0.0.1:26379' }, token).redisConfigured).toBe(true);
  expect(firstRunDefaults({ REDIS_CLUSTER_NODES: '10.0.0.1:6379' }, token).redisConfigured).toBe(true);
  const blank = firstRunDefaults({ REDIS_URL: ' ', NOTARY_SERVER_NAME: '', NOTARY_SIGNING_KEY_FILE: '  ' }, token);
  expect(blank).toMatchObject({ redisConfigured: false, serverName: 'from_port', createKeyAt: './data/signing.key' });
});
