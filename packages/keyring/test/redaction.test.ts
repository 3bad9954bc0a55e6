import type { JsonObject } from '@matrix-notary/protocol';
import { redactEvent, roomVersionRules } from '../src';

function redact(event: JsonObject, version: string): JsonObject {
  return redactEvent(event, roomVersionRules(version).redaction);
}

function stateEvent(type: string, content: JsonObject, extra: JsonObject = {}): JsonObject {
  return {
    type,
    state_key: '',
    room_id: '!r:example.org',
    sender: '@a:example.org',
    origin: 'example.org',
    origin_server_ts: 1000,
    membership: 'join',
    prev_state: [],
    depth: 3,
    prev_events: [],
    auth_events: [],
    hashes: { sha256: 'x' },
    signatures: { 'example.org': { 'ed25519:a': 'sig' } },
    unsigned: { age: 1 },
    content,
    ...extra,
  };
}

describe('redaction algorithm', () => {
  it('strips unsigned, unknown top-level keys and all content of a message in every version', () => {
    for (const v of ['1', '5', '11', '12']) {
      const r = redact(stateEvent('m.room.message', { body: 'secret' }, { unknown_key: 1 }), v);
      expect(r.content).toEqual({});
      expect(r).not.toHaveProperty('unsigned');
      expect(r).not.toHaveProperty('unknown_key');
      expect(r.signatures).toEqual({ 'example.org': { 'ed25519:a': 'sig' } });
      expect(r.hashes).toEqual({ sha256: 'x' });
    }
  });

  it('keeps the top-level origin, membership and prev_state up to v10 and strips them from v11', () => {
    const e = stateEvent('m.room.message', {});
    expect(redact(e, '10')).toMatchObject({ origin: 'example.org', membership: 'join', prev_state: [] });
    for (const v of ['11', '12']) {
      const r = redact(e, v);
      expect(r).not.toHaveProperty('origin');
      expect(r).not.toHaveProperty('membership');
      expect(r).not.toHaveProperty('prev_state');
      expect(r).toMatchObject({ type: 'm.room.message', room_id: '!r:example.org', depth: 3, origin_server_ts: 1000 });
    }
  });

  it('keeps m.room.aliases aliases in v1-v5 only', () => {
    const e = stateEvent('m.room.aliases', { aliases: ['#a:example.org'], other: 1 });
    expect(redact(e, '5').content).toEqual({ aliases: ['#a:example.org'] });
    expect(redact(e, '6').content).toEqual({});
  });

  it('keeps m.room.join_rules allow from v8 on', () => {
    const allow = [{ type: 'm.room_membership', room_id: '!s:example.org' }];
    const e = stateEvent('m.room.join_rules', { join_rule: 'restricted', allow, other: 1 });
    expect(redact(e, '7').content).toEqual({ join_rule: 'restricted' });
    expect(redact(e, '8').content).toEqual({ join_rule: 'restricted', allow });
  });

  it('keeps join_authorised_via_users_server from v9 on, not in v8', () => {
    const e = stateEvent('m.room.member', { membership: 'join', join_authorised_via_users_server: '@b:other.org', displayname: 'A' });
    expect(redact(e, '8').content).toEqual({ membership: 'join' });
    expect(redact(e, '9').content).toEqual({ membership: 'join', join_authorised_via_users_server: '@b:other.org' });
    expect(redact(e, '11').content).toEqual({ membership: 'join', join_authorised_via_users_server: '@b:other.org' });
  });

  it('keeps only third_party_invite.signed of a member event from v11 on', () => {
    const signed = { mxid: '@a:example.org', token: 't', signatures: {} };
    const e = stateEvent('m.room.member', { membership: 'invite', third_party_invite: { display_name: 'x', signed } });
    expect(redact(e, '10').content).toEqual({ membership: 'invite' });
    expect(redact(e, '11').content).toEqual({ membership: 'invite', third_party_invite: { signed } });
    const noSigned = stateEvent('m.room.member', { membership: 'invite', third_party_invite: { display_name: 'x' } });
    expect(redact(noSigned, '11').content).toEqual({ membership: 'invite' });
  });

  it('keeps only creator of m.room.create before v11 and the whole content from v11', () => {
    const content = { creator: '@a:example.org', 'm.federate': false, room_version: '10' };
    expect(redact(stateEvent('m.room.create', content), '10').content).toEqual({ creator: '@a:example.org' });
    expect(redact(stateEvent('m.room.create', content), '11').content).toEqual(content);
    const v12 = { additional_creators: ['@b:other.org'], room_version: '12' };
    expect(redact(stateEvent('m.room.create', v12), '12').content).toEqual(v12);
  });

  it('keeps power_levels invite from v11 on', () => {
    const content = { ban: 50, events: {}, events_default: 0, invite: 0, kick: 50, redact: 50, state_default: 50, users: {}, users_default: 0, notifications: { room: 50 } };
    const { invite: _invite, notifications: _n, ...before } = content;
    expect(redact(stateEvent('m.room.power_levels', content), '10').content).toEqual(before);
    const { notifications: _n2, ...after } = content;
    expect(redact(stateEvent('m.room.power_levels', content), '11').content).toEqual(after);
  });

  it('keeps content.redacts of m.room.redaction from v11 on, never the top-level redacts', () => {
    const e: JsonObject = { ...stateEvent('m.room.redaction', { redacts: '$x', reason: 'spam' }), redacts: '$x' };
    delete e.state_key;
    expect(redact(e, '10').content).toEqual({});
    expect(redact(e, '10')).not.toHaveProperty('redacts');
    expect(redact(e, '11').content).toEqual({ redacts: '$x' });
    expect(redact(e, '11')).not.toHaveProperty('redacts');
  });

  it('keeps history_visibility in every version', () => {
    const e = stateEvent('m.room.history_visibility', { history_visibility: 'shared', x: 1 });
    for (const v of ['1', '6', '11']) expect(redact(e, v).content).toEqual({ history_visibility: 'shared' });
  });

  it('does not change the event it is given', () => {
    const e = stateEvent('m.room.message', { body: 'b' });
    const copy = JSON.parse(JSON.stringify(e));
    redact(e, '11');
    expect(e).toEqual(copy);
  });
});
