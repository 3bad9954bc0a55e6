/**
 * Which servers must sign: the event_id server in v1/v2, the authorising server of a restricted
 * join from v8, and the third-party-invite exemption of the sender's server.
 */
import type { JsonObject } from '@matrix-notary/protocol';
import { Keyring, roomVersionRules, StaticKeySource } from '../src';
import { addSignature, DAY_MS, hashAndSign, keyResponse, makeKey, messageEvent, type TestKey } from './helpers';

const NOW = 1_700_000_000_000;
const OTS = NOW - DAY_MS;

let senderKey: TestKey;
let otherKey: TestKey;
let keyring: Keyring;

beforeAll(async () => {
  senderKey = await makeKey('ed25519:s');
  otherKey = await makeKey('ed25519:o');
  keyring = new Keyring({
    sources: [
      new StaticKeySource([
        keyResponse({ serverName: 'sender.org', current: [senderKey], validUntilTs: NOW + DAY_MS }),
        keyResponse({ serverName: 'other.org', current: [otherKey], validUntilTs: NOW + DAY_MS }),
      ]),
    ],
    now: () => NOW,
  });
});

function requiredOf(r: Awaited<ReturnType<Keyring['verifyEvent']>>): Array<[string, string[], string]> {
  return r.servers.map((s) => [s.serverName, s.requiredBecause, s.verdict]);
}

describe('event_id server rule (room v1 and v2)', () => {
  const base = (): JsonObject => messageEvent('@a:sender.org', OTS, { event_id: '$abc:other.org' });

  it('requires the event_id server in v1 and v2: the sender server alone is not enough', async () => {
    for (const v of ['1', '2']) {
      const r = await keyring.verifyEvent(hashAndSign(base(), v, 'sender.org', senderKey), v);
      expect(r.verdict).toBe('invalid');
      expect(requiredOf(r)).toEqual([['sender.org', ['sender'], 'valid'], ['other.org', ['event_id'], 'invalid']]);
    }
  });

  it('is valid in v1 when both the sender and event_id servers signed', async () => {
    const signed = addSignature(hashAndSign(base(), '1', 'sender.org', senderKey), roomVersionRules('1'), 'other.org', otherKey);
    const r = await keyring.verifyEvent(signed, '1');
    expect(r.verdict).toBe('valid');
    expect(r.eventId).toBe('$abc:other.org');
  });

  it('does not require the event_id server from v3 on', async () => {
    const r = await keyring.verifyEvent(hashAndSign(base(), '3', 'sender.org', senderKey), '3');
    expect(r.verdict).toBe('valid');
    expect(requiredOf(r)).toEqual([['sender.org', ['sender'], 'valid']]);
  });

  it('cannot judge a v1 event without an event_id', async () => {
    const noId = messageEvent('@a:sender.org', OTS);
    const r = await keyring.verifyEvent(hashAndSign(noId, '1', 'sender.org', senderKey), '1');
    expect(r.verdict).toBe('undecided');
    expect(r.problems[0]).toMatch(/event_id/);
  });
});

describe('restricted join authoriser rule (room v8 and later)', () => {
  const join = (): JsonObject => ({
    type: 'm.room.member',
    state_key: '@a:sender.org',
    room_id: '!r:other.org',
    sender: '@a:sender.org',
    origin_server_ts: OTS,
    depth: 4,
    prev_events: [],
    auth_events: [],
    content: { membership: 'join', join_authorised_via_users_server: '@admin:other.org' },
  });

  it('requires the authorising server in v8: a join signed by the joiner alone is invalid', async () => {
    const r = await keyring.verifyEvent(hashAndSign(join(), '8', 'sender.org', senderKey), '8');
    expect(r.verdict).toBe('invalid');
    expect(requiredOf(r)).toEqual([['sender.org', ['sender'], 'valid'], ['other.org', ['join_authorised_via_users_server'], 'invalid']]);
  });

  it('is valid in v8 and v10 when the authorising server signed too', async () => {
    for (const v of ['8', '10']) {
      const rules = roomVersionRules(v);
      const signed = addSignature(hashAndSign(join(), rules, 'sender.org', senderKey), rules, 'other.org', otherKey);
      expect((await keyring.verifyEvent(signed, v)).verdict).toBe('valid');
    }
  });

  it('does not require the authorising server before v8', async () => {
    const r = await keyring.verifyEvent(hashAndSign(join(), '7', 'sender.org', senderKey), '7');
    expect(r.verdict).toBe('valid');
    expect(requiredOf(r)).toEqual([['sender.org', ['sender'], 'valid']]);
  });

  it('applies only to joins: a leave carrying the field needs only the sender', async () => {
    const leave = { ...join(), content: { membership: 'leave', join_authorised_via_users_server: '@admin:other.org' } };
    const r = await keyring.verifyEvent(hashAndSign(leave, '9', 'sender.org', senderKey), '9');
    expect(requiredOf(r)).toEqual([['sender.org', ['sender'], 'valid']]);
  });

  it('reads membership from content in v11, where the top-level membership is not signed', async () => {
    const r = await keyring.verifyEvent(hashAndSign(join(), '11', 'sender.org', senderKey), '11');
    expect(requiredOf(r).map(([s]) => s)).toEqual(['sender.org', 'other.org']);
  });
});

describe('third-party invite exemption', () => {
  const invite = (content: JsonObject): JsonObject => ({
    type: 'm.room.member',
    state_key: '@bob:other.org',
    room_id: '!r:sender.org',
    sender: '@a:sender.org',
    origin_server_ts: OTS,
    depth: 4,
    prev_events: [],
    auth_events: [],
    content,
  });

  it("exempts the sender's server on an invite from a third-party invite", async () => {
    const event = hashAndSign(invite({ membership: 'invite', third_party_invite: { signed: { token: 't' } } }), '10', 'other.org', otherKey);
    const r = await keyring.verifyEvent(event, '10');
    expect(r.verdict).toBe('valid');
    expect(r.servers).toEqual([]);
    expect(r.exemptions).toEqual([{ serverName: 'sender.org', requirement: 'sender', because: 'third_party_invite' }]);
    expect(r.unrequiredSigners).toEqual(['other.org']);
  });

  it("keeps requiring the sender's server on an ordinary invite", async () => {
    const event = hashAndSign(invite({ membership: 'invite' }), '10', 'other.org', otherKey);
    const r = await keyring.verifyEvent(event, '10');
    expect(r.verdict).toBe('invalid');
    expect(requiredOf(r)).toEqual([['sender.org', ['sender'], 'invalid']]);
  });

  it('keeps requiring the event_id server in v1 even on a third-party invite', async () => {
    const event = hashAndSign({ ...invite({ membership: 'invite', third_party_invite: {} }), event_id: '$i:other.org' }, '1', 'other.org', otherKey);
    const r = await keyring.verifyEvent(event, '1');
    expect(r.verdict).toBe('valid');
    expect(requiredOf(r)).toEqual([['other.org', ['event_id'], 'valid']]);
  });
});
