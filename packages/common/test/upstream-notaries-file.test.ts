/** NOTARY_UPSTREAM_NOTARIES_FILE: parsed strictly at start, every mistake named in one line. */
import { MAX_UPSTREAM_NOTARIES, parseUpstreamNotaryList, readUpstreamNotaries, UpstreamNotaryListError, VariableReader, ConfigError } from '@matrix-notary/common';

const KEY = 'l8Hft5qXKn1vfHrg3p4+W8gELQVo8N13JkluMfmn2sQ';
const OWN = 'notary.example.org';

function entry(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { server_name: 'matrix.org', url: 'https://matrix.org', verify_keys: { 'ed25519:a_RXGa': KEY }, ...overrides };
}

const parse = (value: unknown): ReturnType<typeof parseUpstreamNotaryList> => parseUpstreamNotaryList(JSON.stringify(value), OWN);

function refusal(value: unknown, text?: string): string {
  let caught: unknown;
  try {
    if (text !== undefined) parseUpstreamNotaryList(text, OWN);
    else parse(value);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(UpstreamNotaryListError);
  return (caught as Error).message;
}

test('a list of upstreams: URLs end in "/", keys are re-spelt as unpadded standard base64', () => {
  const padded = Buffer.from(KEY, 'base64').toString('base64url') + '=';
  expect(
    parse([entry(), entry({ server_name: 'notary.example.net:8448', url: 'http://127.0.0.1:8080/notary', verify_keys: { 'ed25519:x': padded } })]),
  ).toEqual([
    { serverName: 'matrix.org', url: 'https://matrix.org/', verifyKeys: { 'ed25519:a_RXGa': KEY } },
    { serverName: 'notary.example.net:8448', url: 'http://127.0.0.1:8080/notary/', verifyKeys: { 'ed25519:x': KEY } },
  ]);
  expect(parse([])).toEqual([]);
});

test.each<[string, unknown, RegExp]>([
  ['not a list', { server_name: 'matrix.org' }, /must be a JSON list/],
  ['too many upstreams', Array.from({ length: MAX_UPSTREAM_NOTARIES + 1 }, (_, i) => entry({ server_name: `n${i}.example.org` })), /at most 5 are allowed/],
  ['an entry that is not an object', ['matrix.org'], /entry 0 is not an object/],
  ['an unknown field', [entry({ verify_key: {} })], /entry 0 has unknown field\(s\) "verify_key"/],
  ['no server name', [entry({ server_name: undefined })], /entry 0 has no "server_name" string/],
  ['a server name in another spelling', [entry({ server_name: 'Matrix.org' })], /"server_name" "Matrix.org" is refused/],
  ["the notary's own name", [entry({ server_name: OWN })], /this notary's own name \(NOTARY_SERVER_NAME\)/],
  ['one upstream twice', [entry(), entry()], /entry 1: matrix.org is listed twice/],
  ['a URL that is not one', [entry({ url: 'matrix.org' })], /"url" must be an http:\/\/ or https:\/\/ URL/],
  ['another scheme', [entry({ url: 'ftp://matrix.org' })], /must be http:\/\/ or https:\/\/, not ftp:/],
  ['credentials in the URL', [entry({ url: 'https://user:pw@matrix.org' })], /must not hold a user name or password/],
  ['a query in the URL', [entry({ url: 'https://matrix.org/?a=1' })], /must not have a query or a fragment/],
  ['no keys', [entry({ verify_keys: {} })], /"verify_keys" must be an object of at least one/],
  ['a key ID that is not ed25519', [entry({ verify_keys: { 'curve:x': KEY } })], /"curve:x" is not an ed25519 key ID/],
  ['a key that is not 32 bytes', [entry({ verify_keys: { 'ed25519:x': 'AAAA' } })], /the key of ed25519:x is not the base64 of a 32-byte/],
])('refuses %s', (_label, value, message) => {
  expect(refusal(value)).toMatch(message);
});

test('refuses text that is not JSON, or repeats a member name', () => {
  expect(refusal(undefined, '[{')).toMatch(/is not JSON/);
  expect(refusal(undefined, `[{"server_name":"matrix.org","server_name":"evil.example","url":"https://matrix.org","verify_keys":{"ed25519:a":"${KEY}"}}]`)).toMatch(/is not JSON/);
});

describe('readUpstreamNotaries', () => {
  const files: Record<string, string> = { '/etc/upstreams.json': JSON.stringify([entry()]), '/etc/bad.json': '{}' };
  const readFile = (p: string): string => {
    if (!(p in files)) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
    return files[p];
  };

  test('unset: no upstreams', () => {
    const reader = new VariableReader({});
    expect(readUpstreamNotaries(reader, OWN, readFile)).toEqual([]);
    reader.done();
  });

  test('a readable file: its upstreams', () => {
    const reader = new VariableReader({ NOTARY_UPSTREAM_NOTARIES_FILE: '/etc/upstreams.json' });
    expect(readUpstreamNotaries(reader, OWN, readFile).map((u) => u.serverName)).toEqual(['matrix.org']);
    reader.done();
  });

  test.each([
    ['/etc/missing.json', 'NOTARY_UPSTREAM_NOTARIES_FILE /etc/missing.json cannot be read (ENOENT): check its path and permissions'],
    ['/etc/bad.json', 'NOTARY_UPSTREAM_NOTARIES_FILE /etc/bad.json must be a JSON list: '],
  ])('%s stops the start with one line naming the variable', (file, message) => {
    const reader = new VariableReader({ NOTARY_UPSTREAM_NOTARIES_FILE: file });
    expect(readUpstreamNotaries(reader, OWN, readFile)).toEqual([]);
    let caught: unknown;
    try {
      reader.done();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as Error).message.startsWith(message)).toBe(true);
    expect((caught as Error).message).not.toContain('\n');
  });
});
