import type { LookupResult } from '@matrix-notary/store';
import { HotEntries } from '../src/hot-entries';

const NOW = 1_700_000_000_000;
const bytes = Buffer.from('{"server_name":"a.example"}');
const hit = (validUntilTs: number): LookupResult => ({ needFetch: false, mayFetch: true, fetchInFlight: false, refreshDue: false, entries: [bytes], validUntilTs });
const q = (keyIds: string[], minValidUntilTs = NOW) => ({ serverName: 'a.example', keyIds, minValidUntilTs });

test('a hit is served from memory until its TTL ends', () => {
  const hot = new HotEntries(1000);
  hot.remember(q(['ed25519:a']), hit(NOW + 5000), NOW);
  expect(hot.get(q(['ed25519:a']), NOW + 999)).toEqual([bytes]);
  expect(hot.get(q(['ed25519:a']), NOW + 1000)).toBeUndefined();
});

test('minimum_valid_until_ts is judged against the copy: a later one goes to Redis', () => {
  const hot = new HotEntries(1000);
  hot.remember(q([]), hit(NOW + 5000), NOW);
  expect(hot.get(q([], NOW + 5000), NOW)).toEqual([bytes]);
  expect(hot.get(q([], NOW + 5001), NOW)).toBeUndefined();
});

test('answers that needed a fetch, or hold nothing, are never kept', () => {
  const hot = new HotEntries(1000);
  hot.remember(q([]), { ...hit(NOW + 5000), needFetch: true }, NOW);
  hot.remember(q(['ed25519:b']), { needFetch: false, mayFetch: true, fetchInFlight: false, refreshDue: false, entries: [] }, NOW);
  expect(hot.get(q([]), NOW)).toBeUndefined();
  expect(hot.get(q(['ed25519:b']), NOW)).toBeUndefined();
});

test('different key-ID sets are different entries; order does not matter', () => {
  const hot = new HotEntries(1000);
  hot.remember(q(['ed25519:a', 'ed25519:b']), hit(NOW + 5000), NOW);
  expect(hot.get(q(['ed25519:b', 'ed25519:a']), NOW)).toEqual([bytes]);
  expect(hot.get(q(['ed25519:a']), NOW)).toBeUndefined();
});

test('forget drops every copy for the server', () => {
  const hot = new HotEntries(1000);
  hot.remember(q([]), hit(NOW + 5000), NOW);
  hot.remember(q(['ed25519:a']), hit(NOW + 5000), NOW);
  hot.forget('a.example');
  expect(hot.get(q([]), NOW)).toBeUndefined();
  expect(hot.get(q(['ed25519:a']), NOW)).toBeUndefined();
});

test('the copies are bounded in bytes: the least recently used go first, and big answers are never kept', () => {
  const hot = new HotEntries(1000, 3 * 1024);
  const kb = (n: number): LookupResult => ({ ...hit(NOW + 5000), entries: [Buffer.alloc(n * 1024, 120)] });
  const server = (i: number) => ({ serverName: `s${i}.example`, keyIds: [], minValidUntilTs: NOW });
  for (let i = 0; i < 5; i++) hot.remember(server(i), kb(1), NOW);
  expect(hot.heldBytes).toBeLessThanOrEqual(3 * 1024);
  expect(hot.get(server(0), NOW)).toBeUndefined();
  expect(hot.get(server(4), NOW)).toBeDefined();
  hot.remember(server(9), kb(100), NOW); // over the per-answer cap
  expect(hot.get(server(9), NOW)).toBeUndefined();
});

test('replacing a copy keeps it reachable by forget', () => {
  const hot = new HotEntries(1000);
  hot.remember(q([]), hit(NOW + 5000), NOW);
  hot.remember(q([]), hit(NOW + 6000), NOW + 10);
  expect(hot.get(q([]), NOW + 20)).toEqual([bytes]);
  hot.forget('a.example');
  expect(hot.get(q([]), NOW + 20)).toBeUndefined();
});
