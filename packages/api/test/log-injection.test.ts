/**
 * Log injection (SECURITY.md): text a stranger controls (a client's server names and headers, an
 * origin's response) reaches the logs only as JSON string content. Every log record stays one line
 * of JSON, with no raw control character, so a forged record or a terminal escape cannot appear.
 */
import { encodeBase64 } from '@matrix-notary/protocol';
import { getJson, postQuery, useTestBed } from './notary-harness';

const FORGED = '{"level":"fatal","msg":"FORGED"}';
const { notary, origin } = useTestBed();

/** Each chunk the logger wrote must be exactly one JSON record and one trailing newline. */
function expectOneJsonLinePerRecord(chunks: string[]): Array<Record<string, unknown>> {
  return chunks.map((chunk) => {
    expect(chunk.endsWith('\n')).toBe(true);
    const body = chunk.slice(0, -1);
    // eslint-disable-next-line no-control-regex
    expect(body).not.toMatch(/[\u0000-\u001f\u007f]/);
    const record = JSON.parse(body) as Record<string, unknown>;
    expect(record.msg).not.toBe('FORGED');
    expect(record.level).not.toBe('fatal');
    return record;
  });
}

test("hostile origin responses and client input stay inside one JSON log record each", async () => {
  const n = await notary({ env: { NOTARY_FETCH_WAIT_MS: '2000' } });

  // An origin whose key ID carries a newline, a forged record and a terminal escape.
  const keyIdOrigin = await origin();
  const hostileKeyId = `ed25519:a\n${FORGED}\u001b[2J`;
  keyIdOrigin.override = () => ({
    server_name: keyIdOrigin.serverName,
    valid_until_ts: Date.now() + 86_400_000,
    verify_keys: { [hostileKeyId]: { key: encodeBase64(new Uint8Array(32)) } },
    old_verify_keys: {},
  });
  // An origin answering a body that is not JSON, with the forged record on its second line.
  const garbageOrigin = await origin();
  garbageOrigin.rawBody = () => `not json\r\n${FORGED}\n\u001b[31m`;
  // An origin signing as another, valid, server name (the message quotes the claimed name).
  const impostor = await origin();
  impostor.claimedName = 'other.example';

  for (const o of [keyIdOrigin, garbageOrigin, impostor]) {
    const res = await postQuery(n.url('/_matrix/key/v2/query'), { server_keys: { [o.serverName]: {} } });
    expect(res.status).toBe(200);
    expect(res.json.server_keys).toEqual([]);
    expect(o.fetches).toBe(1);
  }

  // Client input: server names and key IDs with control characters, and a hostile User-Agent.
  const hostileName = `evil.test\n${FORGED}`;
  const post = await postQuery(n.url('/_matrix/key/v2/query'), {
    server_keys: { [hostileName]: { [`ed25519:x\r\n${FORGED}`]: {} } },
  });
  expect(post.status).toBe(400);
  const get = await getJson(n.url(`/_matrix/key/v2/query/${encodeURIComponent(hostileName)}`));
  expect(get.status).toBe(400);
  const ua = await fetch(n.url('/_matrix/key/v2/server'), { headers: { 'user-agent': `x\t${FORGED}` } });
  expect(ua.status).toBe(200);
  await ua.text();

  const records = expectOneJsonLinePerRecord(n.logs);
  // The hostile text did reach the log (so the check above saw it), escaped inside a string.
  const refusals = records.filter((r) => typeof r.msg === 'string' && r.msg.startsWith("refused the origin's key response"));
  expect(refusals.map((r) => r.origin).sort()).toEqual([keyIdOrigin, garbageOrigin, impostor].map((o) => o.serverName).sort());
  expect(n.logs.some((line) => line.includes('FORGED'))).toBe(true);
});
