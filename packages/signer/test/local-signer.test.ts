/** LocalSigner: the notary's own key response, countersigning, and keeping the key to itself. */
import { inspect } from 'node:util';
import {
  canonicalJsonBytes,
  decodeBase64,
  encodeBase64,
  keyPairFromSeed,
  parseStrictJson,
  signJson,
  verifyJsonSignature,
  type JsonObject,
} from '@matrix-notary/protocol';
import { LocalSigner, type LocalSignerOptions } from '@matrix-notary/signer';
import { SignerRefusedError, SignerUnavailableError } from '@matrix-notary/signer-client';
import {
  DAY_MS,
  expectNoSecret,
  NOTARY_KEY,
  NOTARY_NAME,
  NOTARY_SEED,
  NOW_MS,
  originKeyPair,
  originResponse,
  originResponseBytes,
} from './helpers';

const OLD_PUB = encodeBase64(new Uint8Array(32).fill(9));

function makeSigner(overrides: Partial<LocalSignerOptions> = {}): LocalSigner {
  return new LocalSigner({
    serverName: NOTARY_NAME,
    key: NOTARY_KEY,
    oldKeys: {},
    ownKeyValidityMs: DAY_MS,
    now: () => NOW_MS,
    ...overrides,
  });
}

function notaryPublicKey(): Uint8Array {
  return keyPairFromSeed(NOTARY_SEED).publicKey;
}

async function refusal(p: Promise<unknown>): Promise<SignerRefusedError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SignerRefusedError);
  expect((err as Error).name).toBe('SignerRefusedError');
  return err as SignerRefusedError;
}

describe('ownKeys', () => {
  test('canonical JSON bytes, exactly the current key, old_verify_keys present and empty, signed by the current key', async () => {
    const own = await makeSigner().ownKeys();
    const parsed = parseStrictJson(own.bytes.toString('utf8')) as JsonObject;
    expect(canonicalJsonBytes(parsed).equals(own.bytes)).toBe(true);
    expect(parsed.server_name).toBe(NOTARY_NAME);
    expect(parsed.verify_keys).toEqual({ 'ed25519:a_Test': { key: encodeBase64(notaryPublicKey()) } });
    expect(parsed.old_verify_keys).toEqual({});
    expect(Object.keys(parsed.signatures as JsonObject)).toEqual([NOTARY_NAME]);
    expect(Object.keys((parsed.signatures as JsonObject)[NOTARY_NAME] as JsonObject)).toEqual(['ed25519:a_Test']);
    expect(verifyJsonSignature(parsed, NOTARY_NAME, 'ed25519:a_Test', notaryPublicKey())).toBe(true);
    expect(own.verifyKeys).toEqual(parsed.verify_keys);
  });

  test('valid_until_ts is now + ownKeyValidityMs, and follows the clock', async () => {
    let now = NOW_MS;
    const signer = makeSigner({ ownKeyValidityMs: 3_600_000, now: () => now });
    const first = await signer.ownKeys();
    expect(first.validUntilTs).toBe(NOW_MS + 3_600_000);
    expect((JSON.parse(first.bytes.toString()) as JsonObject).valid_until_ts).toBe(NOW_MS + 3_600_000);
    now += 5000;
    expect((await signer.ownKeys()).validUntilTs).toBe(NOW_MS + 5000 + 3_600_000);
  });

  test('retired keys are in old_verify_keys with their expiry; verify_keys still holds only the current key', async () => {
    const own = await makeSigner({ oldKeys: { 'ed25519:old': { key: OLD_PUB, expired_ts: 123 } } }).ownKeys();
    const parsed = JSON.parse(own.bytes.toString()) as JsonObject;
    expect(parsed.old_verify_keys).toEqual({ 'ed25519:old': { key: OLD_PUB, expired_ts: 123 } });
    expect(Object.keys(parsed.verify_keys as JsonObject)).toEqual(['ed25519:a_Test']);
    expect(verifyJsonSignature(parsed, NOTARY_NAME, 'ed25519:a_Test', notaryPublicKey())).toBe(true);
  });

  test('the same clock gives byte-identical responses (ed25519 is deterministic)', async () => {
    expect((await makeSigner().ownKeys()).bytes.equals((await makeSigner().ownKeys()).bytes)).toBe(true);
  });
});

describe('construction', () => {
  test('exposes only public facts', () => {
    const signer = makeSigner();
    expect(signer.serverName).toBe(NOTARY_NAME);
    expect(signer.keyId).toBe('ed25519:a_Test');
    expect(signer.publicKey).toBe(encodeBase64(notaryPublicKey()));
  });

  test.each([
    ['an invalid server name', { serverName: 'not a name' }, /server name/],
    ['a zero validity', { ownKeyValidityMs: 0 }, /ownKeyValidityMs/],
    ['a fractional validity', { ownKeyValidityMs: 1.5 }, /ownKeyValidityMs/],
    ['a short seed', { key: { version: 'v', seed: new Uint8Array(16) } }, /32 bytes/],
    ['the current key also listed as old', { oldKeys: { 'ed25519:a_Test': { key: OLD_PUB, expired_ts: 1 } } }, /also listed as an old key/],
  ])('refuses %s', (_label, overrides, message) => {
    expect(() => makeSigner(overrides as Partial<LocalSignerOptions>)).toThrow(message);
  });
});

describe('the private key stays inside', () => {
  test('JSON.stringify, util.inspect and own property names show no key material', () => {
    const signer = makeSigner({ oldKeys: { 'ed25519:old': { key: OLD_PUB, expired_ts: 1 } } });
    expectNoSecret(JSON.stringify(signer));
    expectNoSecret(inspect(signer, { showHidden: true, depth: Infinity, getters: true }));
    expectNoSecret(JSON.stringify(Object.getOwnPropertyNames(signer).map((k) => [k, String((signer as unknown as Record<string, unknown>)[k])])));
    expect(JSON.stringify(signer)).toContain('ed25519:a_Test'); // the public facts are there, so the check looked at something
  });

  test('close wipes the key and later calls reject', async () => {
    const signer = makeSigner();
    await signer.close();
    await expect(signer.ownKeys()).rejects.toBeInstanceOf(SignerUnavailableError);
    await expect(signer.countersign(originResponseBytes())).rejects.toBeInstanceOf(SignerUnavailableError);
  });
});

describe('countersign', () => {
  test('a good origin response comes back canonical, with the origin\'s and the notary\'s signatures', async () => {
    const input = originResponse({ extra: { 'org.example.extra': { kept: true } } });
    (input.signatures as JsonObject)['third.example'] = { 'ed25519:t': 'dropped' };
    const out = await makeSigner().countersign(Buffer.from(JSON.stringify(input, null, 2)));
    const parsed = parseStrictJson(out.toString('utf8')) as JsonObject;
    expect(canonicalJsonBytes(parsed).equals(out)).toBe(true);
    expect(Object.keys(parsed.signatures as JsonObject).sort()).toEqual([NOTARY_NAME, 'origin.example']);
    expect(verifyJsonSignature(parsed, NOTARY_NAME, 'ed25519:a_Test', notaryPublicKey())).toBe(true);
    expect(verifyJsonSignature(parsed, 'origin.example', 'ed25519:o1', originKeyPair().publicKey)).toBe(true);
    expect(parsed['org.example.extra']).toEqual({ kept: true });
  });

  test('an expired origin response is still countersigned: validity is the worker\'s policy', async () => {
    const kp = originKeyPair();
    const body = { ...originResponse({ sign: false }), valid_until_ts: 1 };
    const signed = signJson(body, 'origin.example', 'ed25519:o1', kp.secretKey);
    await expect(makeSigner().countersign(Buffer.from(JSON.stringify(signed)))).resolves.toBeInstanceOf(Buffer);
  });

  const cases: Array<[string, () => Buffer, string]> = [
    ['not UTF-8', () => Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 'not_json'],
    ['not JSON', () => Buffer.from('{"server_name":'), 'not_json'],
    ['a byte order mark before the JSON', () => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), originResponseBytes()]), 'not_json'],
    ['a float', () => Buffer.from(originResponseBytes().toString().replace(/"valid_until_ts":(\d+)/, '"valid_until_ts":$1.0')), 'not_canonical_json'],
    ['a duplicate key', () => Buffer.from(originResponseBytes().toString().replace('{', '{"server_name":"x",')), 'not_canonical_json'],
    ['an integer beyond 2^53', () => Buffer.from(originResponseBytes().toString().replace('{', '{"big":9007199254740993,')), 'not_canonical_json'],
    ['a JSON array', () => Buffer.from('[]'), 'not_an_object'],
    ['no server_name', () => Buffer.from(JSON.stringify({ ...originResponse(), server_name: undefined })), 'bad_server_name'],
    ['a malformed verify key', () => Buffer.from(JSON.stringify({ ...originResponse(), verify_keys: { 'ed25519:o1': { key: 'AAAA' } } })), 'malformed_verify_key'],
    ['no signature', () => Buffer.from(JSON.stringify({ ...originResponse(), signatures: {} })), 'no_valid_signature'],
    ['a tampered field', () => Buffer.from(JSON.stringify({ ...originResponse(), valid_until_ts: NOW_MS + 2 * DAY_MS })), 'bad_signature'],
    ['a signature by a third server only', () => {
      const body = originResponse({ sign: false });
      return Buffer.from(JSON.stringify(signJson(body, 'third.example', 'ed25519:o1', originKeyPair().secretKey)));
    }, 'no_valid_signature'],
  ];
  test.each(cases)('refuses %s', async (_label, input, reason) => {
    const err = await refusal(makeSigner().countersign(input()));
    expect(err.reason).toBe(reason);
  });

  test('refuses a validly self-signed response in the notary\'s own name', async () => {
    // Signed with the notary's real key, so only the name rule can refuse it.
    const kp = keyPairFromSeed(NOTARY_SEED);
    const body = {
      server_name: NOTARY_NAME,
      valid_until_ts: NOW_MS + DAY_MS,
      verify_keys: { 'ed25519:a_Test': { key: encodeBase64(kp.publicKey) } },
    };
    const signed = signJson(body, NOTARY_NAME, 'ed25519:a_Test', kp.secretKey);
    const err = await refusal(makeSigner().countersign(Buffer.from(JSON.stringify(signed))));
    expect(err.reason).toBe('own_name');
    // and the notary's own key response, fed back in, is refused the same way
    const own = await makeSigner().ownKeys();
    expect((await refusal(makeSigner().countersign(own.bytes))).reason).toBe('own_name');
  });

  test('refusal messages hold no key material', async () => {
    const signer = makeSigner();
    for (const [, input] of cases) {
      const err = await refusal(signer.countersign(input()));
      expectNoSecret(err.message);
      expectNoSecret(JSON.stringify(err));
    }
  });

  test('the seed in the helpers is the one the signer uses (so the leak checks look for the right thing)', () => {
    expect(encodeBase64(keyPairFromSeed(decodeBase64(encodeBase64(NOTARY_SEED))).publicKey)).toBe(makeSigner().publicKey);
  });
});
