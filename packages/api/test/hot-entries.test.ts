import type { LookupResult } from '@matrix-notary/store';
import { HotEntries } from '../src/hot-entries';

const NOW = 1_700_000_000_000;
const bytes = Buffer.from('{"server_name":"a.example"}');
const hit = (validUntilTs: number): LookupResult => ({ action: 'serve', refreshDue: false, entries: [bytes], validUntilTs });
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
  for (const action of ['fetch', 'wait', 'serveStale'] as const) {
    hot.remember(q([]), { ...hit(NOW + 5000), action }, NOW);
    expect(hot.get(q([]), NOW)).toBeUndefined();
  }
  hot.remember(q(['ed25519:b']), { action: 'serve', refreshDue: false, entries: [] }, NOW);
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

test('the copies are bounded in bytes: the oldest go first (a copy in use is renewed each TTL), and big answers are never kept', () => {
  const hot = new HotEntries(1000, 4 * 1024);
  const kb = (n: number): LookupResult => ({ ...hit(NOW + 5000), entries: [Buffer.alloc(n * 1024, 120)] });
  const server = (i: number) => ({ serverName: `s${i}.example`, keyIds: [], minValidUntilTs: NOW });
  for (let i = 0; i < 5; i++) hot.remember(server(i), kb(1), NOW);
  expect(hot.heldBytes).toBeLessThanOrEqual(4 * 1024);
  expect(hot.get(server(0), NOW)).toBeUndefined();
  expect(hot.get(server(4), NOW)).toBeDefined();
  // Renewing s1 makes it the newest: the next eviction takes s2.
  hot.remember(server(1), kb(1), NOW + 1);
  hot.remember(server(5), kb(1), NOW + 1);
  expect(hot.get(server(1), NOW + 1)).toBeDefined();
  expect(hot.get(server(2), NOW + 1)).toBeUndefined();
  hot.remember(server(9), kb(100), NOW); // over the per-answer cap
  expect(hot.get(server(9), NOW)).toBeUndefined();
});

test('a copy is its own memory: the whole one-server answer once, its entries views into it', () => {
  const hot = new HotEntries(1000);
  const reply = Buffer.from('xx{"a":1}yy{"b":2}zz'); // as a Redis reply buffer holding two entries
  const entries = [reply.subarray(2, 9), reply.subarray(11, 18)];
  hot.remember(q([]), { ...hit(NOW + 5000), entries }, NOW);
  const answer = hot.getAnswer(q([]), NOW)!;
  expect(answer.toString()).toBe('{"server_keys":[{"a":1},{"b":2}]}');
  expect(answer.buffer).not.toBe(reply.buffer);
  const views = hot.get(q([]), NOW)!;
  expect(views.map(String)).toEqual(['{"a":1}', '{"b":2}']);
  expect(views.every((v) => v.buffer === answer.buffer)).toBe(true);
});

test('replacing a copy keeps it reachable by forget', () => {
  const hot = new HotEntries(1000);
  hot.remember(q([]), hit(NOW + 5000), NOW);
  hot.remember(q([]), hit(NOW + 6000), NOW + 10);
  expect(hot.get(q([]), NOW + 20)).toEqual([bytes]);
  hot.forget('a.example');
  expect(hot.get(q([]), NOW + 20)).toBeUndefined();
});
