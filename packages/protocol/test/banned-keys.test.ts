/**
 * NOTARY_BANNED_KEYS_FILE's rules: the list's format, scopes (any server, one server, one key ID),
 * and the check of stored bytes that decides, without a parse unless needed, that one is never served.
 */
import { BannedKeyListError, BannedKeys, canonicalJsonBytes, parseBannedKeyList } from '@matrix-notary/protocol';

/** 32-byte key bodies (only public halves matter here); A's base64 holds + and /. */
const rawA = () => Buffer.alloc(32, 0xfb);
const A = () => rawA().toString('base64').replace(/=+$/, '');
const B = () => Buffer.alloc(32, 2).toString('base64').replace(/=+$/, '');

function stored(serverName: string, verify: Record<string, string>, old: Record<string, string> = {}): Buffer {
  return canonicalJsonBytes({
    server_name: serverName,
    valid_until_ts: 1,
    verify_keys: Object.fromEntries(Object.entries(verify).map(([id, key]) => [id, { key }])),
    old_verify_keys: Object.fromEntries(Object.entries(old).map(([id, key]) => [id, { key, expired_ts: 1 }])),
    signatures: {},
  });
}

describe('parseBannedKeyList', () => {
  test('reads entries with optional scopes and a note, normalizing the key', () => {
    const raw = rawA().toString('base64'); // padded
    expect(parseBannedKeyList([{ key: raw }, { server_name: 'a.example', key_id: 'ed25519:x', key: A(), note: 'why' }])).toEqual([
      { key: A() },
      { key: A(), serverName: 'a.example', keyId: 'ed25519:x', note: 'why' },
    ]);
  });

  test.each([
    ['not a list', { key: 'x' }, /JSON list/],
    ['an entry not an object', ['x'], /entry 0 is not an object/],
    ['no key', [{}], /no "key"/],
    ['a key that is not base64', [{ key: 'not base64!' }], /not base64/],
    ['a bad server name', [{ key: 'AAAA', server_name: 'Bad Name' }], /server_name/],
    ['a bad key ID', [{ key: 'AAAA', key_id: 'nocolon' }], /key_id/],
    ['an unknown field (a misspelt scope must not widen the ban)', [{ key: 'AAAA', server: 'a.example' }], /unknown field "server"/],
  ])('refuses %s', (_label, value, message) => {
    expect(() => parseBannedKeyList(value)).toThrow(BannedKeyListError);
    expect(() => parseBannedKeyList(value)).toThrow(message);
  });
});

describe('BannedKeys.match and find', () => {
  test('an unscoped entry bans the body for every server and key ID; scopes narrow it', () => {
    const banned = new BannedKeys(parseBannedKeyList([
      { key: A() },
      { key: B(), server_name: 'b.example' },
      { key: B(), server_name: 'c.example', key_id: 'ed25519:only' },
    ]));
    expect(banned.match('any.example', 'ed25519:whatever', A())).toBeDefined();
    expect(banned.match('b.example', 'ed25519:x', B())).toBeDefined();
    expect(banned.match('a.example', 'ed25519:x', B())).toBeUndefined();
    expect(banned.match('c.example', 'ed25519:only', B())).toBeDefined();
    expect(banned.match('c.example', 'ed25519:other', B())).toBeUndefined();
    expect(banned.find('c.example', [{ keyId: 'ed25519:other', body: B() }, { keyId: 'ed25519:only', body: B() }])?.keyId).toBe('ed25519:only');
  });
});

describe('BannedKeys.heldIn (stored bytes)', () => {
  test('finds a banned key in verify_keys or old_verify_keys, in any base64 spelling', () => {
    const banned = new BannedKeys(parseBannedKeyList([{ key: A() }]));
    const urlSafe = rawA().toString('base64url');
    expect(urlSafe).not.toBe(A());
    expect(banned.heldIn('s.example', stored('s.example', { 'ed25519:a': A() }))).toBe(true);
    expect(banned.heldIn('s.example', stored('s.example', { 'ed25519:b': B() }, { 'ed25519:a': A() }))).toBe(true);
    expect(banned.heldIn('s.example', stored('s.example', { 'ed25519:a': `${A()}=` }))).toBe(true);
    expect(banned.heldIn('s.example', stored('s.example', { 'ed25519:a': urlSafe }))).toBe(true);
    expect(banned.heldIn('s.example', stored('s.example', { 'ed25519:b': B() }))).toBe(false);
  });

  test('keeps to the scopes: another server, or the body under another key ID, is served', () => {
    const banned = new BannedKeys(parseBannedKeyList([{ key: A(), server_name: 's.example', key_id: 'ed25519:a' }]));
    expect(banned.heldIn('s.example', stored('s.example', { 'ed25519:a': A() }))).toBe(true);
    expect(banned.heldIn('t.example', stored('t.example', { 'ed25519:a': A() }))).toBe(false);
    expect(banned.heldIn('s.example', stored('s.example', { 'ed25519:other': A() }))).toBe(false);
  });

  test('the key text elsewhere (not a key) is not a ban', () => {
    const banned = new BannedKeys(parseBannedKeyList([{ key: A() }]));
    const bytes = canonicalJsonBytes({ server_name: 's.example', verify_keys: { 'ed25519:b': { key: B() } }, note: A() });
    expect(banned.heldIn('s.example', bytes)).toBe(false);
  });

  test('an empty list holds nothing and costs nothing', () => {
    expect(new BannedKeys([]).heldIn('s.example', stored('s.example', { 'ed25519:a': A() }))).toBe(false);
  });
});
