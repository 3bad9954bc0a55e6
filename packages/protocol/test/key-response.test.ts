/**
 * Checking an origin's key response (DESIGN behaviour 5): each refusal reason from a response that
 * passes with exactly one thing changed, and the notary's countersigned copy.
 */
import {
  BannedKeys,
  canonicalJsonBytes,
  CanonicalJsonError,
  checkSelfSignedKeyResponse,
  countersignedCopy,
  encodeBase64,
  encodeCanonicalJson,
  DuplicateMemberError,
  MAX_OLD_VERIFY_KEYS,
  MAX_VERIFY_KEYS,
  parseBannedKeyList,
  parseStrictJson,
  signDetached,
  signJson,
  validateOriginKeyResponse,
  verifyJsonSignature,
  type Ed25519KeyPair,
  type JsonObject,
  type KeyResponseCheck,
  type OriginPolicy,
  type ServerKeyResponse,
} from '@matrix-notary/protocol';
import { clone, DAY_MS, HOUR_MS, NOW_MS, originResponse, publicKeyBase64, testKeyPair } from './fixtures';

const POLICY: OriginPolicy = { serverName: 'origin.example', nowMs: NOW_MS, minValidityMs: HOUR_MS };

function reasonOf(check: KeyResponseCheck): string {
  return check.ok ? 'ok' : check.reason;
}

describe('checkSelfSignedKeyResponse (the signer check)', () => {
  test('a well-formed, self-signed response passes and lists its key IDs', () => {
    const check = checkSelfSignedKeyResponse(originResponse());
    expect(check).toMatchObject({ ok: true, keyIds: ['ed25519:abc'] });
  });

  test.each([
    ['null', null],
    ['an array', []],
    ['a string', 'x'],
  ])('%s is not_an_object', (_label, value) => {
    expect(reasonOf(checkSelfSignedKeyResponse(value))).toBe('not_an_object');
  });

  test.each([
    ['missing', undefined],
    ['not a string', 42],
    ['not a valid server name', 'bad name'],
  ])('server_name %s is bad_server_name', (_label, serverName) => {
    const r = originResponse();
    r.server_name = serverName as string;
    expect(reasonOf(checkSelfSignedKeyResponse(r))).toBe('bad_server_name');
  });

  test.each([
    ['missing', undefined],
    ['negative', -1],
    ['a string', '123'],
    ['beyond 2^53', 2 ** 60],
  ])('valid_until_ts %s is bad_valid_until_ts', (_label, ts) => {
    const r = originResponse();
    r.valid_until_ts = ts as number;
    expect(reasonOf(checkSelfSignedKeyResponse(r))).toBe('bad_valid_until_ts');
  });

  describe('malformed_verify_key', () => {
    // Any 32 bytes have the right form; the table is built before libsodium has loaded.
    const good = encodeBase64(new Uint8Array(32).fill(7));
    test.each([
      ['verify_keys missing', { verify_keys: undefined }],
      ['verify_keys an array', { verify_keys: [] }],
      ['a key entry not an object', { verify_keys: { 'ed25519:abc': good } }],
      ['no "key"', { verify_keys: { 'ed25519:abc': {} } }],
      ['"key" not a string', { verify_keys: { 'ed25519:abc': { key: 5 } } }],
      ['"key" not base64', { verify_keys: { 'ed25519:abc': { key: 'not base64!' } } }],
      ['"key" 31 bytes', { verify_keys: { 'ed25519:abc': { key: encodeBase64(new Uint8Array(31)) } } }],
      ['"key" 33 bytes', { verify_keys: { 'ed25519:abc': { key: encodeBase64(new Uint8Array(33)) } } }],
      ['an invalid key ID', { verify_keys: { 'ed25519:a-b': { key: good } } }],
      ['old_verify_keys not an object', { old_verify_keys: 'x' }],
      ['an old key without expired_ts', { old_verify_keys: { 'ed25519:old': { key: good } } }],
      ['an old key with a negative expired_ts', { old_verify_keys: { 'ed25519:old': { key: good, expired_ts: -5 } } }],
      ['an old key that is not 32 bytes', { old_verify_keys: { 'ed25519:old': { key: 'AAAA', expired_ts: 1 } } }],
    ])('%s', (_label, change) => {
      // Signed after the change, so only the structure can be what is refused.
      const r = originResponse({}, false);
      Object.assign(r, change);
      for (const [k, v] of Object.entries(change)) if (v === undefined) delete r[k];
      const kp = testKeyPair(1);
      const signed = signJson(r, 'origin.example', 'ed25519:abc', kp.secretKey);
      expect(reasonOf(checkSelfSignedKeyResponse(signed))).toBe('malformed_verify_key');
    });

    test('a key of an unknown algorithm need only be a string', () => {
      const kp = testKeyPair(1);
      const r = originResponse({}, false);
      (r.verify_keys as JsonObject)['curve25519:x'] = { key: 'anything at all' };
      const signed = signJson(r, 'origin.example', 'ed25519:abc', kp.secretKey);
      expect(reasonOf(checkSelfSignedKeyResponse(signed))).toBe('ok');
    });
  });

  describe('MSC4499 payload rules: malformed', () => {
    function withKeys(verify: number, old: number, kp = testKeyPair(1)): JsonObject {
      const r = originResponse({}, false);
      const verifyKeys: JsonObject = { 'ed25519:abc': { key: publicKeyBase64(kp) } };
      for (let i = 1; i < verify; i++) verifyKeys[`ed25519:v${i}`] = { key: publicKeyBase64(testKeyPair(100 + (i % 50))) };
      const oldKeys: JsonObject = {};
      for (let i = 0; i < old; i++) oldKeys[`ed25519:o${i}`] = { key: publicKeyBase64(kp), expired_ts: 1 };
      r.verify_keys = verifyKeys;
      r.old_verify_keys = oldKeys;
      return signJson(r, 'origin.example', 'ed25519:abc', kp.secretKey) as JsonObject;
    }

    test(`${MAX_VERIFY_KEYS} verify_keys pass; ${MAX_VERIFY_KEYS + 1} are malformed`, () => {
      expect(reasonOf(checkSelfSignedKeyResponse(withKeys(MAX_VERIFY_KEYS, 0)))).toBe('ok');
      expect(reasonOf(checkSelfSignedKeyResponse(withKeys(MAX_VERIFY_KEYS + 1, 0)))).toBe('malformed');
    });

    test(`${MAX_OLD_VERIFY_KEYS} old_verify_keys pass; ${MAX_OLD_VERIFY_KEYS + 1} are malformed`, () => {
      expect(reasonOf(checkSelfSignedKeyResponse(withKeys(1, MAX_OLD_VERIFY_KEYS)))).toBe('ok');
      expect(reasonOf(checkSelfSignedKeyResponse(withKeys(1, MAX_OLD_VERIFY_KEYS + 1)))).toBe('malformed');
    });

    test('one key ID with another body in old_verify_keys is malformed; the same body in both maps is fine', () => {
      const kp = testKeyPair(1);
      const same = originResponse({}, false);
      same.old_verify_keys = { 'ed25519:abc': { key: publicKeyBase64(kp), expired_ts: 1 } };
      expect(reasonOf(checkSelfSignedKeyResponse(signJson(same, 'origin.example', 'ed25519:abc', kp.secretKey)))).toBe('ok');

      const sameUrlSafe = originResponse({}, false);
      const urlSafe = Buffer.from(kp.publicKey).toString('base64url');
      sameUrlSafe.old_verify_keys = { 'ed25519:abc': { key: urlSafe, expired_ts: 1 } };
      expect(reasonOf(checkSelfSignedKeyResponse(signJson(sameUrlSafe, 'origin.example', 'ed25519:abc', kp.secretKey)))).toBe('ok');

      const other = originResponse({}, false);
      other.old_verify_keys = { 'ed25519:abc': { key: publicKeyBase64(testKeyPair(2)), expired_ts: 1 } };
      const check = checkSelfSignedKeyResponse(signJson(other, 'origin.example', 'ed25519:abc', kp.secretKey));
      expect(reasonOf(check)).toBe('malformed');
      expect(check.ok ? '' : check.message).toContain('ed25519:abc');
    });

    test('a member name repeated in any object, at any depth, is refused by the parser as a DuplicateMemberError', () => {
      const text = encodeCanonicalJson(originResponse({ extra: { deep: { deeper: { x: 1 } } } }));
      for (const spoilt of [
        text.replace('"x":1', '"x":1,"x":1'),
        text.replace('"x":1', '"x":1,"\u0078":2'), // the same name, escaped
        text.replace('"valid_until_ts":', '"server_name":"origin.example","valid_until_ts":'),
      ]) {
        expect(spoilt).not.toBe(text);
        expect(() => parseStrictJson(spoilt)).toThrow(DuplicateMemberError);
      }
      expect(() => parseStrictJson(text)).not.toThrow();
    });
  });

  test.each([
    ['a float', 1.5],
    ['an integer beyond 2^53', 2 ** 53],
    ['-0', -0],
    ['a lone surrogate', '\uD800'],
  ])('%s anywhere in the response is not_canonical_json', (_label, bad) => {
    const r = originResponse();
    r.extra = { nested: [bad] };
    expect(reasonOf(checkSelfSignedKeyResponse(r))).toBe('not_canonical_json');
  });

  test('a float inside signatures or unsigned (not signed, but stored and served) is not_canonical_json', () => {
    const r = originResponse();
    r.unsigned = { age: 0.5 };
    expect(reasonOf(checkSelfSignedKeyResponse(r))).toBe('not_canonical_json');
  });

  describe('signatures', () => {
    test('no signatures member is no_valid_signature', () => {
      const r = originResponse();
      delete r.signatures;
      expect(reasonOf(checkSelfSignedKeyResponse(r))).toBe('no_valid_signature');
    });

    test('signatures only by another server is no_valid_signature', () => {
      const r = originResponse({}, false);
      const signed = signJson(r, 'someone.else', 'ed25519:abc', testKeyPair(1).secretKey);
      expect(reasonOf(checkSelfSignedKeyResponse(signed))).toBe('no_valid_signature');
    });

    test('a signature only by a key ID not in verify_keys is ignored, leaving no_valid_signature', () => {
      const kp = testKeyPair(1);
      const r = originResponse({}, false);
      r.old_verify_keys = { 'ed25519:old': { key: publicKeyBase64(kp), expired_ts: 1 } };
      const signed = signJson(r, 'origin.example', 'ed25519:old', kp.secretKey);
      expect(reasonOf(checkSelfSignedKeyResponse(signed))).toBe('no_valid_signature');
    });

    test('a garbage signature by a key ID not in verify_keys is ignored beside a good one', () => {
      const r = originResponse();
      (r.signatures as JsonObject)['origin.example'] = {
        ...((r.signatures as JsonObject)['origin.example'] as JsonObject),
        'ed25519:unknown': 'garbage',
        'curve25519:x': 'garbage too',
      };
      expect(reasonOf(checkSelfSignedKeyResponse(r))).toBe('ok');
    });

    test('a signature that does not verify is bad_signature', () => {
      const r = originResponse();
      const sigs = (r.signatures as Record<string, Record<string, string>>)['origin.example'];
      const sig = sigs['ed25519:abc'];
      sigs['ed25519:abc'] = (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
      expect(reasonOf(checkSelfSignedKeyResponse(r))).toBe('bad_signature');
    });

    test('a signed field changed after signing is bad_signature', () => {
      const r = originResponse();
      r.valid_until_ts = (r.valid_until_ts as number) + 1;
      expect(reasonOf(checkSelfSignedKeyResponse(r))).toBe('bad_signature');
    });

    test('one bad signature among good ones is bad_signature', () => {
      const kp1 = testKeyPair(1);
      const kp2 = testKeyPair(2);
      const r = originResponse({}, false);
      r.verify_keys = {
        'ed25519:one': { key: publicKeyBase64(kp1) },
        'ed25519:two': { key: publicKeyBase64(kp2) },
      };
      const both = signJson(signJson(r, 'origin.example', 'ed25519:one', kp1.secretKey), 'origin.example', 'ed25519:two', kp2.secretKey);
      expect(reasonOf(checkSelfSignedKeyResponse(both))).toBe('ok');
      // ed25519:two signed with the wrong key: the good ed25519:one signature does not save it.
      const wrong = signJson(signJson(r, 'origin.example', 'ed25519:one', kp1.secretKey), 'origin.example', 'ed25519:two', kp1.secretKey);
      expect(reasonOf(checkSelfSignedKeyResponse(wrong))).toBe('bad_signature');
    });

    test('a signature that is not a string is bad_signature', () => {
      const r = originResponse();
      (r.signatures as Record<string, Record<string, unknown>>)['origin.example']['ed25519:abc'] = 42;
      expect(reasonOf(checkSelfSignedKeyResponse(r))).toBe('bad_signature');
    });

    test('third servers\' signatures, valid or not, do not matter', () => {
      const r = originResponse();
      (r.signatures as JsonObject)['notary.example'] = { 'ed25519:n': 'not even base64!' };
      expect(reasonOf(checkSelfSignedKeyResponse(r))).toBe('ok');
    });
  });

  test('unknown fields are kept and covered by the signature', () => {
    const r = originResponse({ extra: { 'org.example.custom': { nested: ['x', 1] } } });
    const check = checkSelfSignedKeyResponse(r);
    expect(check.ok && check.response['org.example.custom']).toEqual({ nested: ['x', 1] });
    const tampered = clone(r);
    (tampered['org.example.custom'] as JsonObject).nested = ['y', 1];
    expect(reasonOf(checkSelfSignedKeyResponse(tampered))).toBe('bad_signature');
    const removed = clone(r);
    delete removed['org.example.custom'];
    expect(reasonOf(checkSelfSignedKeyResponse(removed))).toBe('bad_signature');
  });

  test('unsigned is not covered by the signature', () => {
    const r = originResponse();
    r.unsigned = { anything: 'goes' };
    expect(reasonOf(checkSelfSignedKeyResponse(r))).toBe('ok');
  });

  test('an expired response passes: validity is policy, and policy is the worker\'s', () => {
    expect(reasonOf(checkSelfSignedKeyResponse(originResponse({ validUntilTs: 0 })))).toBe('ok');
  });
});

describe('validateOriginKeyResponse (the worker check)', () => {
  test('a good response for the server asked passes', () => {
    expect(reasonOf(validateOriginKeyResponse(originResponse(), POLICY))).toBe('ok');
  });

  test('a response naming another server is wrong_server_name, even when validly signed', () => {
    const r = originResponse({ serverName: 'other.example' });
    expect(reasonOf(checkSelfSignedKeyResponse(r))).toBe('ok');
    expect(reasonOf(validateOriginKeyResponse(r, POLICY))).toBe('wrong_server_name');
  });

  test('server_name is compared exactly (server names are case-sensitive)', () => {
    const r = originResponse({ serverName: 'Origin.example' });
    expect(reasonOf(validateOriginKeyResponse(r, POLICY))).toBe('wrong_server_name');
  });

  test('the signer\'s refusals come through', () => {
    const r = originResponse();
    delete r.signatures;
    expect(reasonOf(validateOriginKeyResponse(r, POLICY))).toBe('no_valid_signature');
  });

  test('valid for less than the minimum is expires_too_soon; exactly the minimum passes', () => {
    const justShort = originResponse({ validUntilTs: NOW_MS + HOUR_MS - 1 });
    expect(reasonOf(validateOriginKeyResponse(justShort, POLICY))).toBe('expires_too_soon');
    const exactly = originResponse({ validUntilTs: NOW_MS + HOUR_MS });
    expect(reasonOf(validateOriginKeyResponse(exactly, POLICY))).toBe('ok');
  });

  test('an expired response is expires_too_soon, and accepted when minValidityMs is 0', () => {
    const expired = originResponse({ validUntilTs: NOW_MS - DAY_MS });
    expect(reasonOf(validateOriginKeyResponse(expired, POLICY))).toBe('expires_too_soon');
    expect(reasonOf(validateOriginKeyResponse(expired, { ...POLICY, minValidityMs: 0 }))).toBe('ok');
  });

  test('minValidityMs 0 still refuses a bad signature', () => {
    const r = originResponse({ validUntilTs: NOW_MS - DAY_MS });
    r.valid_until_ts = NOW_MS - DAY_MS + 1;
    expect(reasonOf(validateOriginKeyResponse(r, { ...POLICY, minValidityMs: 0 }))).toBe('bad_signature');
  });

  test('a passing response comes with its keys as the store binds them, expired_ts judged at nowMs', () => {
    const kp = testKeyPair(1);
    const r = originResponse({}, false);
    r.old_verify_keys = {
      'ed25519:past': { key: publicKeyBase64(testKeyPair(2)), expired_ts: NOW_MS - DAY_MS },
      'ed25519:skew': { key: publicKeyBase64(testKeyPair(3)), expired_ts: NOW_MS + 5 * 60 * 1000 },
      'ed25519:future': { key: publicKeyBase64(testKeyPair(4)), expired_ts: NOW_MS + 5 * 60 * 1000 + 1 },
    };
    const check = validateOriginKeyResponse(signJson(r, 'origin.example', 'ed25519:abc', kp.secretKey), POLICY);
    if (!check.ok) throw new Error(check.message);
    expect(check.keys).toEqual([
      { keyId: 'ed25519:abc', body: publicKeyBase64(kp), kind: 'active' },
      { keyId: 'ed25519:past', body: publicKeyBase64(testKeyPair(2)), kind: 'retired', expiredTs: NOW_MS - DAY_MS },
      { keyId: 'ed25519:skew', body: publicKeyBase64(testKeyPair(3)), kind: 'retired', expiredTs: NOW_MS + 5 * 60 * 1000 },
      { keyId: 'ed25519:future', body: publicKeyBase64(testKeyPair(4)), kind: 'unusable' },
    ]);
  });

  test('a response holding a banned key is banned_key, whether the key is current or retired', () => {
    const kp = testKeyPair(1);
    const banned = new BannedKeys(parseBannedKeyList([{ key: publicKeyBase64(testKeyPair(2)), note: 'leaked' }]));
    expect(reasonOf(validateOriginKeyResponse(originResponse(), { ...POLICY, bannedKeys: banned }))).toBe('ok');
    const current = originResponse({ keyPair: testKeyPair(2) });
    const check = validateOriginKeyResponse(current, { ...POLICY, bannedKeys: banned });
    expect(reasonOf(check)).toBe('banned_key');
    expect(check.ok ? '' : check.message).toContain('leaked');
    const retired = originResponse({}, false);
    retired.old_verify_keys = { 'ed25519:old': { key: publicKeyBase64(testKeyPair(2)), expired_ts: 1 } };
    const signed = signJson(retired, 'origin.example', 'ed25519:abc', kp.secretKey);
    expect(reasonOf(validateOriginKeyResponse(signed, { ...POLICY, bannedKeys: banned }))).toBe('banned_key');
  });

  test('a response parsed from text holding a float never gets that far: parseStrictJson refuses it', () => {
    const text = JSON.stringify(originResponse()).replace(/"valid_until_ts":(\d+)/, '"valid_until_ts":$1.0');
    expect(text).toContain('.0');
    expect(() => parseStrictJson(text)).toThrow(CanonicalJsonError);
  });
});

describe('countersignedCopy', () => {
  let notary: Ed25519KeyPair;
  beforeAll(() => {
    notary = testKeyPair(9);
  });
  const sign = (bytes: Buffer): string => encodeBase64(signDetached(bytes, notary.secretKey));

  function countersign(r: JsonObject): JsonObject {
    const check = checkSelfSignedKeyResponse(r);
    if (!check.ok) throw new Error(`fixture refused: ${check.reason}`);
    return parseStrictJson(countersignedCopy(check.response, 'notary.example', [{ keyId: 'ed25519:n1', sign }]).toString('utf8')) as JsonObject;
  }

  test('keeps the origin\'s signatures, drops third servers\', adds the notary\'s', () => {
    const r = originResponse();
    const originSigs = clone((r.signatures as JsonObject)['origin.example']);
    (r.signatures as JsonObject)['third.example'] = { 'ed25519:t': 'whatever' };
    (r.signatures as JsonObject)['notary.example'] = { 'ed25519:old': 'a stale notary signature' };
    const out = countersign(r);
    expect(Object.keys(out.signatures as JsonObject).sort()).toEqual(['notary.example', 'origin.example']);
    expect((out.signatures as JsonObject)['origin.example']).toEqual(originSigs);
    expect(Object.keys((out.signatures as JsonObject)['notary.example'] as JsonObject)).toEqual(['ed25519:n1']);
  });

  test('the notary\'s signature verifies under the notary key, and the origin\'s still does', () => {
    const out = countersign(originResponse());
    expect(verifyJsonSignature(out, 'notary.example', 'ed25519:n1', notary.publicKey)).toBe(true);
    expect(verifyJsonSignature(out, 'origin.example', 'ed25519:abc', testKeyPair(1).publicKey)).toBe(true);
    expect(checkSelfSignedKeyResponse(out).ok).toBe(true);
  });

  test('with several notary keys (a rotation), one signature per key, each verifying under its own key', () => {
    const extra = testKeyPair(10);
    const r = originResponse();
    const check = checkSelfSignedKeyResponse(r);
    if (!check.ok) throw new Error(check.reason);
    const bytes = countersignedCopy(check.response, 'notary.example', [
      { keyId: 'ed25519:n1', sign },
      { keyId: 'ed25519:n2', sign: (b) => encodeBase64(signDetached(b, extra.secretKey)) },
    ]);
    const out = parseStrictJson(bytes.toString('utf8')) as JsonObject;
    expect(Object.keys((out.signatures as JsonObject)['notary.example'] as JsonObject).sort()).toEqual(['ed25519:n1', 'ed25519:n2']);
    expect(verifyJsonSignature(out, 'notary.example', 'ed25519:n1', notary.publicKey)).toBe(true);
    expect(verifyJsonSignature(out, 'notary.example', 'ed25519:n2', extra.publicKey)).toBe(true);
    expect(verifyJsonSignature(out, 'notary.example', 'ed25519:n2', notary.publicKey)).toBe(false);
    expect(() => countersignedCopy(check.response, 'notary.example', [])).toThrow(/at least one/);
  });

  test('every field is kept, unknown and unsigned ones too', () => {
    const r = originResponse({ extra: { 'org.example.custom': { a: [1, 2] } } });
    r.unsigned = { note: 'kept' };
    const out = countersign(r);
    const { signatures: _a, ...outRest } = out;
    const { signatures: _b, ...inRest } = r;
    expect(outRest).toEqual(inRest);
  });

  test('the output is canonical JSON bytes', () => {
    const r = originResponse({ extra: { zz: 1, aa: { '\u{1F600}': 1, '\uE000': 2 } } });
    const check = checkSelfSignedKeyResponse(r);
    if (!check.ok) throw new Error(check.reason);
    const bytes = countersignedCopy(check.response, 'notary.example', [{ keyId: 'ed25519:n1', sign }]);
    expect(bytes.equals(canonicalJsonBytes(JSON.parse(bytes.toString('utf8'))))).toBe(true);
    expect(encodeCanonicalJson(JSON.parse(bytes.toString('utf8')))).toBe(bytes.toString('utf8'));
  });

  test('does not change the response it was given', () => {
    const r = originResponse();
    (r.signatures as JsonObject)['third.example'] = { 'ed25519:t': 'x' };
    const before = clone(r);
    const check = checkSelfSignedKeyResponse(r);
    if (!check.ok) throw new Error(check.reason);
    countersignedCopy(check.response as ServerKeyResponse, 'notary.example', [{ keyId: 'ed25519:n1', sign }]);
    expect(r).toEqual(before);
  });
});
