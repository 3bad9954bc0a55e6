/**
 * OwnKeysCache: the api's copy of the notary's own key response is asked of the signer again at
 * least once a minute, so a signer restarted with another key set (a rotation step) is what every
 * api pod serves within a minute, without a restart of the api and without a caller waiting.
 */
import { silentLogger } from '@matrix-notary/common';
import { OWN_KEYS_RECHECK_MS, OwnKeysCache } from '../src/own-keys-cache';

const DAY_MS = 24 * 60 * 60 * 1000;

test('a changed response from the signer is served within OWN_KEYS_RECHECK_MS; the caller never waits for it', async () => {
  let nowMs = 1_700_000_000_000;
  let served = 'one key';
  let asked = 0;
  const source = {
    ownKeys: async () => {
      asked++;
      return { bytes: Buffer.from(served), validUntilTs: nowMs + DAY_MS };
    },
  };
  const cache = new OwnKeysCache(source, silentLogger(), () => nowMs);
  await cache.start();
  served = 'two keys';
  nowMs += OWN_KEYS_RECHECK_MS - 1;
  expect(cache.current()?.toString()).toBe('one key');
  expect(asked).toBe(1);
  nowMs += 1;
  expect(cache.current()).toBeUndefined(); // due: the slow path renews
  expect((await cache.get()).toString()).toBe('one key'); // answered at once, renewed in the background
  for (let i = 0; i < 10 && cache.current() === undefined; i++) await new Promise((r) => setImmediate(r));
  expect(cache.current()?.toString()).toBe('two keys');
  expect(asked).toBe(2);
});
