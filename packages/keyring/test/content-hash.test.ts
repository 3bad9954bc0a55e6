import { checkContentHash, computeContentHash } from '../src';

describe('content hash', () => {
  const event = { type: 'm.room.message', content: { body: 'hi' }, unsigned: { age: 1 }, signatures: { x: {} } };

  it('ignores unsigned, signatures and hashes', () => {
    const h = computeContentHash(event);
    expect(computeContentHash({ ...event, unsigned: { age: 2 }, signatures: {}, hashes: { sha256: 'x' } })).toBe(h);
    expect(computeContentHash({ ...event, content: { body: 'ho' } })).not.toBe(h);
  });

  it('reports match, mismatch and missing', () => {
    const sha256 = computeContentHash(event);
    expect(checkContentHash({ ...event, hashes: { sha256 } })).toMatchObject({ status: 'match', expected: sha256, actual: sha256 });
    expect(checkContentHash({ ...event, hashes: { sha256: 'AAAA' } })).toMatchObject({ status: 'mismatch', expected: 'AAAA', actual: sha256 });
    expect(checkContentHash(event).status).toBe('missing');
    expect(checkContentHash({ ...event, hashes: { sha256: 5 } }).status).toBe('missing');
  });

  it('reports an event canonical JSON cannot encode as uncomputable', () => {
    expect(checkContentHash({ ...event, content: { n: 1.5 }, hashes: { sha256: 'x' } }).status).toBe('uncomputable');
  });
});
