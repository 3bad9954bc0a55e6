import { KNOWN_ROOM_VERSIONS, roomVersionRules, UnknownRoomVersionError } from '../src';

describe('room version rules', () => {
  it('knows room versions 1 to 12 and refuses others', () => {
    expect(KNOWN_ROOM_VERSIONS).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12']);
    expect(() => roomVersionRules('13')).toThrow(UnknownRoomVersionError);
    expect(() => roomVersionRules('org.matrix.msc1234')).toThrow(UnknownRoomVersionError);
    expect(() => roomVersionRules('05')).toThrow(UnknownRoomVersionError);
  });

  it('enforces key validity from room version 5 on', () => {
    expect(KNOWN_ROOM_VERSIONS.filter((v) => roomVersionRules(v).enforceKeyValidity)).toEqual(['5', '6', '7', '8', '9', '10', '11', '12']);
  });

  it('requires the event_id server signature in room versions 1 and 2 only', () => {
    expect(KNOWN_ROOM_VERSIONS.filter((v) => roomVersionRules(v).eventIdServerMustSign)).toEqual(['1', '2']);
  });

  it('has restricted joins from room version 8 on', () => {
    expect(KNOWN_ROOM_VERSIONS.filter((v) => roomVersionRules(v).restrictedJoins)).toEqual(['8', '9', '10', '11', '12']);
  });

  it('uses server-assigned event IDs in v1/v2, base64 reference hashes in v3 and URL-safe ones after', () => {
    expect(roomVersionRules(2).eventIdFormat).toBe('server-assigned');
    expect(roomVersionRules(3).eventIdFormat).toBe('reference-hash-base64');
    expect(roomVersionRules(4).eventIdFormat).toBe('reference-hash-url-safe');
    expect(roomVersionRules(12).eventIdFormat).toBe('reference-hash-url-safe');
  });
});
