import { MatrixError } from '@matrix-notary/common';
import { KeyQueryParser } from '../src/key-query';

const LIMITS = { maxServersPerQuery: 3, maxKeysPerServer: 2 };
const NOW = 1_700_000_000_000;
const parser = new KeyQueryParser(LIMITS);

function errcodeOf(fn: () => unknown): [number, string] {
  try {
    fn();
  } catch (err) {
    if (err instanceof MatrixError) return [err.status, err.errcode];
    throw err;
  }
  throw new Error('expected a MatrixError');
}

describe('KeyQueryParser.getQuery', () => {
  test('all three path forms and the query parameter', () => {
    expect(parser.getQuery('example.org', '', NOW)).toEqual({ serverName: 'example.org', keyIds: [], minValidUntilTs: NOW });
    expect(parser.getQuery('example.org:8448/ed25519%3Aabc', '', NOW)).toEqual({ serverName: 'example.org:8448', keyIds: ['ed25519:abc'], minValidUntilTs: NOW });
    expect(parser.getQuery('%5B%3A%3A1%5D%3A8448/ed25519:abc/123', '', NOW)).toEqual({ serverName: '[::1]:8448', keyIds: ['ed25519:abc'], minValidUntilTs: 123 });
    expect(parser.getQuery('example.org', 'minimum_valid_until_ts=456', NOW).minValidUntilTs).toBe(456);
    expect(parser.getQuery('example.org/', '', NOW).keyIds).toEqual([]);
  });

  test.each([
    ['an invalid server name', 'exa mple.org', ''],
    ['a server name with a bad port', 'example.org:99999', ''],
    ['an empty server name', '', ''],
    ['an invalid key ID', 'example.org/nocolon', ''],
    ['a non-integer path timestamp', 'example.org/ed25519:a/12.5', ''],
    ['a non-integer query parameter', 'example.org', 'minimum_valid_until_ts=soon'],
    ['a query parameter of -0', 'example.org', 'minimum_valid_until_ts=-0'],
    ['a path timestamp with a leading zero', 'example.org/ed25519:a/0123', ''],
    ['a repeated query parameter', 'example.org', 'minimum_valid_until_ts=1&minimum_valid_until_ts=2'],
    ['bad percent-encoding', 'example.org%zz', ''],
    ['too many segments', 'example.org/ed25519:a/1/extra', ''],
  ])('%s is 400 M_INVALID_PARAM', (_name, rest, search) => {
    expect(errcodeOf(() => parser.getQuery(rest, search, NOW))).toEqual([400, 'M_INVALID_PARAM']);
  });
});

describe('KeyQueryParser: what it remembers', () => {
  test('a remembered GET parse hands out key IDs no caller can change', () => {
    const first = parser.getQuery('remembered.example/ed25519:a', '', NOW);
    expect(() => (first.keyIds as string[]).push('ed25519:injected')).toThrow(TypeError);
    const second = parser.getQuery('remembered.example/ed25519:a', '', NOW);
    expect(second.keyIds).toEqual(['ed25519:a']);
    expect(second).not.toBe(first); // a query of its own each time; only the frozen key IDs are shared
  });

  test('each parser has caches of its own: one parser\'s limits or memory never reach another', () => {
    const tight = new KeyQueryParser({ maxServersPerQuery: 1, maxKeysPerServer: 1 });
    const body = { server_keys: { 'a.example': {}, 'b.example': {} } };
    expect(parser.postQuery(body, NOW)).toHaveLength(2);
    expect(errcodeOf(() => tight.postQuery(body, NOW))).toEqual([413, 'M_TOO_LARGE']);
  });
});

describe('KeyQueryParser.postQuery', () => {
  test('the spec form, the empty criteria form and the legacy list form', () => {
    const q = parser.postQuery(
      {
        server_keys: {
          'a.example': { 'ed25519:x': { minimum_valid_until_ts: 5 }, 'ed25519:y': { minimum_valid_until_ts: 9 } },
          'b.example': {},
          'c.example': ['ed25519:z', 'ed25519:z'],
        },
      },
      NOW,
    );
    expect(q).toEqual([
      { serverName: 'a.example', keyIds: ['ed25519:x', 'ed25519:y'], minValidUntilTs: 9 },
      { serverName: 'b.example', keyIds: [], minValidUntilTs: NOW },
      { serverName: 'c.example', keyIds: ['ed25519:z'], minValidUntilTs: NOW },
    ]);
  });

  test.each<[string, unknown, [number, string]]>([
    ['a body that is not an object', [1, 2], [400, 'M_BAD_JSON']],
    ['server_keys missing', {}, [400, 'M_BAD_JSON']],
    ['server_keys not an object', { server_keys: 'x' }, [400, 'M_BAD_JSON']],
    ['a criterion that is not an object', { server_keys: { 'a.example': { 'ed25519:x': 5 } } }, [400, 'M_BAD_JSON']],
    ['criteria that are a string', { server_keys: { 'a.example': 'all' } }, [400, 'M_BAD_JSON']],
    ['minimum_valid_until_ts a float', { server_keys: { 'a.example': { 'ed25519:x': { minimum_valid_until_ts: 1.5 } } } }, [400, 'M_BAD_JSON']],
    ['minimum_valid_until_ts a string', { server_keys: { 'a.example': { 'ed25519:x': { minimum_valid_until_ts: '5' } } } }, [400, 'M_BAD_JSON']],
    ['minimum_valid_until_ts beyond 2^53', { server_keys: { 'a.example': { 'ed25519:x': { minimum_valid_until_ts: 2 ** 60 } } } }, [400, 'M_BAD_JSON']],
    ['a legacy list holding a number', { server_keys: { 'a.example': [1] } }, [400, 'M_BAD_JSON']],
    ['an invalid server name', { server_keys: { 'not a server': {} } }, [400, 'M_INVALID_PARAM']],
    ['an invalid key ID', { server_keys: { 'a.example': { 'bad key': {} } } }, [400, 'M_INVALID_PARAM']],
    ['more servers than the limit', { server_keys: { a: {}, b: {}, c: {}, d: {} } }, [413, 'M_TOO_LARGE']],
    ['more key IDs than the limit', { server_keys: { a: { 'ed25519:1': {}, 'ed25519:2': {}, 'ed25519:3': {} } } }, [413, 'M_TOO_LARGE']],
    ['a legacy list longer than the limit', { server_keys: { a: ['ed25519:1', 'ed25519:2', 'ed25519:3'] } }, [413, 'M_TOO_LARGE']],
  ])('%s', (_name, body, expected) => {
    expect(errcodeOf(() => parser.postQuery(body, NOW))).toEqual(expected);
  });
});

describe('one spelling per origin', () => {
  test.each([
    ['upper case', 'Example.org'],
    ['a trailing dot', 'example.org.'],
    ['an empty label', 'example..org'],
    ['a port with a leading zero', 'example.org:08448'],
    ['an all-digit last label (a numeric address spelling)', '2130706433'],
    ['a zero-padded dotted address', '127.000.000.001'],
    ['a non-canonical IPv6 literal', '[0:0:0:0:0:0:0:1]:8448'],
    ['an upper-case IPv6 literal', '[FE80::1]'],
  ])('%s is refused with M_INVALID_PARAM, naming the canonical form where there is one', (_what, name) => {
    expect(errcodeOf(() => parser.postQuery({ server_keys: { [name]: {} } }, NOW))).toEqual([400, 'M_INVALID_PARAM']);
    expect(errcodeOf(() => parser.getQuery(encodeURIComponent(name), '', NOW))).toEqual([400, 'M_INVALID_PARAM']);
  });

  test.each(['example.org', 'example.org:8448', '1.2.3.4', '1.2.3.4:8448', '[::1]', '[2001:db8::1]:8448', 'xn--bcher-kva.example'])('%s is accepted', (name) => {
    expect(parser.postQuery({ server_keys: { [name]: {} } }, NOW)[0].serverName).toBe(name);
  });
});

test('a key asked without minimum_valid_until_ts counts as "valid now" beside one asked with an older time', () => {
  const [q] = parser.postQuery({ server_keys: { 'a.example': { 'ed25519:a': {}, 'ed25519:b': { minimum_valid_until_ts: 5 } } } }, NOW);
  expect(q.minValidUntilTs).toBe(NOW);
});
