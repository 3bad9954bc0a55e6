import { MemoryKeyCache, type KeyRecord } from '../src';

const record = (keyId: string, extra: Partial<KeyRecord> = {}): KeyRecord => ({
  serverName: 's.example',
  keyId,
  key: 'AAAA',
  kind: 'verify_keys',
  validUntilTs: 10,
  source: 'test',
  ...extra,
});

describe('MemoryKeyCache', () => {
  it('keeps one copy of identical records and every differing one', () => {
    const cache = new MemoryKeyCache();
    cache.add([record('ed25519:a'), record('ed25519:a', { source: 'elsewhere' }), record('ed25519:a', { validUntilTs: 20 })]);
    expect(cache.get('s.example', 'ed25519:a').map((r) => r.validUntilTs)).toEqual([10, 20]);
    expect(cache.get('s.example', 'ed25519:b')).toEqual([]);
    expect(cache.get('t.example', 'ed25519:a')).toEqual([]);
  });

  it('drops the least recently added key when full', () => {
    const cache = new MemoryKeyCache(2);
    cache.add([record('ed25519:a'), record('ed25519:b')]);
    cache.add([record('ed25519:a', { validUntilTs: 30 })]);
    cache.add([record('ed25519:c')]);
    expect(cache.size).toBe(2);
    expect(cache.get('s.example', 'ed25519:b')).toEqual([]);
    expect(cache.get('s.example', 'ed25519:a')).toHaveLength(2);
  });

  it('keeps keys by when they were added, not when they were read', () => {
    const cache = new MemoryKeyCache(2);
    cache.add([record('ed25519:a'), record('ed25519:b')]);
    expect(cache.get('s.example', 'ed25519:a')).toHaveLength(1);
    cache.add([record('ed25519:c')]);
    expect(cache.get('s.example', 'ed25519:a')).toEqual([]);
    expect(cache.get('s.example', 'ed25519:b')).toHaveLength(1);
  });
});
