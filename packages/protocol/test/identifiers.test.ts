/** Server names (spec appendix "Server Name") and signing key IDs. */
import {
  formatHost,
  isEd25519KeyId,
  isValidKeyId,
  isValidServerName,
  MAX_KEY_ID_LENGTH,
  MAX_SERVER_NAME_LENGTH,
  parseServerName,
} from '@matrix-notary/protocol';

describe('valid server names', () => {
  test.each([
    // the spec's own examples
    ['matrix.org', { host: 'matrix.org', port: undefined, kind: 'dns' }],
    ['matrix.org:8888', { host: 'matrix.org', port: 8888, kind: 'dns' }],
    ['1.2.3.4', { host: '1.2.3.4', port: undefined, kind: 'ipv4' }],
    ['1.2.3.4:1234', { host: '1.2.3.4', port: 1234, kind: 'ipv4' }],
    ['[1234:5678::abcd]', { host: '1234:5678::abcd', port: undefined, kind: 'ipv6' }],
    ['[1234:5678::abcd]:5678', { host: '1234:5678::abcd', port: 5678, kind: 'ipv6' }],
    // ours
    ['[::1]:8448', { host: '::1', port: 8448, kind: 'ipv6' }],
    ['[::ffff:1.2.3.4]', { host: '::ffff:1.2.3.4', port: undefined, kind: 'ipv6' }],
    ['[ABCD::1]', { host: 'abcd::1', port: undefined, kind: 'ipv6' }],
    ['localhost', { host: 'localhost', port: undefined, kind: 'dns' }],
    ['localhost:1', { host: 'localhost', port: 1, kind: 'dns' }],
    ['example.com:65535', { host: 'example.com', port: 65535, kind: 'dns' }],
    ['Example.COM', { host: 'example.com', port: undefined, kind: 'dns' }],
    ['a-b.c-d.example', { host: 'a-b.c-d.example', port: undefined, kind: 'dns' }],
    // dotted-decimal lookalikes that are not IPv4 literals are still DNS names by the grammar
    ['1.2.3.256', { host: '1.2.3.256', port: undefined, kind: 'dns' }],
    ['1.2.3.04', { host: '1.2.3.04', port: undefined, kind: 'dns' }],
  ])('%s', (name, expected) => {
    expect(parseServerName(name)).toEqual(expected);
    expect(isValidServerName(name)).toBe(true);
  });

  test(`a name of exactly ${MAX_SERVER_NAME_LENGTH} characters`, () => {
    const name = 'a'.repeat(MAX_SERVER_NAME_LENGTH - 4) + '.org';
    expect(name).toHaveLength(255);
    expect(isValidServerName(name)).toBe(true);
  });
});

describe('invalid server names', () => {
  test.each([
    ['empty', ''],
    ['port 0', 'example.com:0'],
    ['port 65536', 'example.com:65536'],
    ['a six-digit port', 'example.com:000080'],
    ['an empty port', 'example.com:'],
    ['a signed port', 'example.com:+80'],
    ['a non-numeric port', 'example.com:http'],
    ['two ports', 'example.com:80:80'],
    ['an IPv6 zone ID', '[fe80::1%eth0]'],
    ['an IPv6 zone ID with a port', '[fe80::1%25eth0]:8448'],
    ['an unbracketed IPv6 literal', '::1'],
    ['an unclosed bracket', '[::1'],
    ['text after the bracket', '[::1]x'],
    ['IPv6 port 0', '[::1]:0'],
    ['a bracketed IPv4 literal', '[1.2.3.4]'],
    ['an invalid IPv6 literal', '[12345::1]'],
    ['an empty bracket', '[]'],
    ['a space', 'exa mple.com'],
    ['an underscore', 'ex_ample.com'],
    ['a slash', 'example.com/path'],
    ['userinfo', 'user@example.com'],
    ['non-ASCII', 'exämple.com'],
    ['a newline', 'example.com\n'],
    ['just a port', ':8448'],
  ])('%s: %j', (_label, name) => {
    expect(parseServerName(name)).toBeNull();
    expect(isValidServerName(name)).toBe(false);
  });

  test(`${MAX_SERVER_NAME_LENGTH + 1} characters`, () => {
    expect(isValidServerName('a'.repeat(MAX_SERVER_NAME_LENGTH - 3) + '.org')).toBe(false);
  });

  test('values that are not strings', () => {
    for (const v of [undefined, null, 42, ['a'], { host: 'a' }]) expect(isValidServerName(v)).toBe(false);
  });
});

test('formatHost brackets IPv6 literals only', () => {
  expect(formatHost('::1', 'ipv6')).toBe('[::1]');
  expect(formatHost('1.2.3.4', 'ipv4')).toBe('1.2.3.4');
  expect(formatHost('example.org', 'dns')).toBe('example.org');
});

describe('key IDs', () => {
  test.each(['ed25519:1', 'ed25519:a_AbC9', 'ed25519:_', 'curve25519:x', 'alg_2:V'])('%s is valid', (id) => {
    expect(isValidKeyId(id)).toBe(true);
  });

  test.each([
    ['no version', 'ed25519:'],
    ['no algorithm', ':abc'],
    ['no colon', 'ed25519'],
    ['two colons', 'ed25519:a:b'],
    ['a hyphen in the version', 'ed25519:a-b'],
    ['a dot in the version', 'ed25519:a.b'],
    ['an upper-case algorithm', 'ED25519:x'],
    ['a space', 'ed25519: x'],
    ['non-ASCII', 'ed25519:ä'],
    ['empty', ''],
  ])('%s: %j is invalid', (_label, id) => {
    expect(isValidKeyId(id)).toBe(false);
  });

  test(`at most ${MAX_KEY_ID_LENGTH} characters`, () => {
    const longest = 'ed25519:' + 'a'.repeat(MAX_KEY_ID_LENGTH - 8);
    expect(isValidKeyId(longest)).toBe(true);
    expect(isValidKeyId(longest + 'a')).toBe(false);
  });

  test('values that are not strings are invalid', () => {
    for (const v of [undefined, null, 1, ['ed25519:1']]) expect(isValidKeyId(v)).toBe(false);
  });

  test('isEd25519KeyId wants the ed25519 algorithm and a valid ID', () => {
    expect(isEd25519KeyId('ed25519:abc')).toBe(true);
    expect(isEd25519KeyId('curve25519:abc')).toBe(false);
    expect(isEd25519KeyId('ed25519:a-b')).toBe(false);
    expect(isEd25519KeyId('ed25519x:abc')).toBe(false);
  });
});
