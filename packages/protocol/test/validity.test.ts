/** Room v5+ key validity: the lesser of valid_until_ts and now + 7 days must reach the event. */
import { effectiveValidUntilTs, isKeyValidAt, KEY_VALIDITY_CAP_MS } from '@matrix-notary/protocol';
import { DAY_MS, NOW_MS } from './fixtures';

test('the cap is 7 days', () => {
  expect(KEY_VALIDITY_CAP_MS).toBe(7 * DAY_MS);
});

test('effectiveValidUntilTs keeps a validity within the cap and caps a longer one', () => {
  expect(effectiveValidUntilTs(NOW_MS + DAY_MS, NOW_MS)).toBe(NOW_MS + DAY_MS);
  expect(effectiveValidUntilTs(NOW_MS + 7 * DAY_MS, NOW_MS)).toBe(NOW_MS + 7 * DAY_MS);
  expect(effectiveValidUntilTs(NOW_MS + 7 * DAY_MS + 1, NOW_MS)).toBe(NOW_MS + 7 * DAY_MS);
  expect(effectiveValidUntilTs(NOW_MS + 365 * DAY_MS, NOW_MS)).toBe(NOW_MS + 7 * DAY_MS);
  expect(effectiveValidUntilTs(NOW_MS - DAY_MS, NOW_MS)).toBe(NOW_MS - DAY_MS);
});

describe('isKeyValidAt', () => {
  const validUntil = NOW_MS + DAY_MS;

  test('an event at exactly valid_until_ts is covered; one millisecond later is not', () => {
    expect(isKeyValidAt(validUntil, validUntil, NOW_MS)).toBe(true);
    expect(isKeyValidAt(validUntil, validUntil + 1, NOW_MS)).toBe(false);
  });

  test('old events are covered by a key that has since expired', () => {
    expect(isKeyValidAt(NOW_MS - DAY_MS, NOW_MS - 2 * DAY_MS, NOW_MS)).toBe(true);
    expect(isKeyValidAt(NOW_MS - DAY_MS, NOW_MS - DAY_MS + 1, NOW_MS)).toBe(false);
  });

  test('a far-future valid_until_ts counts only up to now + 7 days', () => {
    const farFuture = NOW_MS + 365 * DAY_MS;
    expect(isKeyValidAt(farFuture, NOW_MS + 7 * DAY_MS, NOW_MS)).toBe(true);
    expect(isKeyValidAt(farFuture, NOW_MS + 7 * DAY_MS + 1, NOW_MS)).toBe(false);
  });

  test('the cap moves with now', () => {
    const farFuture = NOW_MS + 365 * DAY_MS;
    const eventTs = NOW_MS + 10 * DAY_MS;
    expect(isKeyValidAt(farFuture, eventTs, NOW_MS)).toBe(false);
    expect(isKeyValidAt(farFuture, eventTs, NOW_MS + 3 * DAY_MS)).toBe(true);
  });
});
