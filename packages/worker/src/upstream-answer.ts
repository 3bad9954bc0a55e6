/**
 * Judging an upstream notary's answer to `POST /_matrix/key/v2/query` for one origin, exactly as
 * the keyring's NotaryKeySource judges a notary (the upstream's signature with a key pinned for it,
 * via the keyring's own check, and the origin's self-signature), plus everything the worker holds
 * an origin's own response to: the server asked, the policy of DESIGN behaviour 5 (minimum
 * validity, banned keys) and MSC4499's payload rules (behaviour 12, a repeated member name
 * anywhere in the answer included). An upstream can withhold keys, never invent them: what passes
 * is a response the origin itself signed. Pure: no I/O.
 */
import type { UpstreamNotary } from '@matrix-notary/common';
import { checkNotarySignature, type NotaryIdentity } from '@matrix-notary/keyring';
import {
  canonicalJsonBytes,
  CanonicalJsonError,
  decodeBase64,
  DuplicateMemberError,
  parseStrictJson,
  validateOriginKeyResponse,
  type OriginPolicy,
  type ResponseKey,
  type ServerKeyResponse,
  isPlainObject,
} from '@matrix-notary/protocol';

export type UpstreamAnswerCheck =
  /** The origin response to store: the one valid longest among those that pass every check. */
  | { outcome: 'usable'; response: ServerKeyResponse; keys: ResponseKey[]; keyIds: string[]; bytes: Buffer }
  /** The upstream holds nothing for the origin (or nothing it would answer with). */
  | { outcome: 'empty' }
  /** The answer, or every entry for the origin in it, failed a check. `reason` is the first failure's. */
  | { outcome: 'refused'; reason: string; message: string };

// fatal: bytes that are not UTF-8 are refused rather than replaced; a byte order mark stays and is refused.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The upstream as the keyring's notary checks see a notary whose keys are pinned. */
export function upstreamIdentity(upstream: UpstreamNotary): NotaryIdentity {
  const trustedKeys = new Map(Object.entries(upstream.verifyKeys).map(([keyId, key]) => [keyId, decodeBase64(key)] as [string, Uint8Array]));
  return { serverName: upstream.serverName, trust: 'pinned', trustedKeys };
}

function refused(reason: string, message: string): UpstreamAnswerCheck {
  return { outcome: 'refused', reason, message };
}

/**
 * `policy.serverName` is the origin asked about. Entries about other servers are ignored, as the
 * keyring ignores them; entries about the origin must all be judged, and the best one is kept.
 */
export function checkUpstreamAnswer(body: Buffer, identity: NotaryIdentity, policy: OriginPolicy): UpstreamAnswerCheck {
  let value: unknown;
  try {
    value = parseStrictJson(UTF8.decode(body));
  } catch (err) {
    // A repeated member name is MSC4499's "malformed": parsers disagree on which value wins.
    if (err instanceof DuplicateMemberError) return refused('malformed', err.message);
    if (err instanceof CanonicalJsonError) return refused('not_canonical_json', err.message);
    return refused('not_json', `the answer is not JSON: ${(err as Error).message}`);
  }
  const entries = isPlainObject(value) ? value.server_keys : undefined;
  if (!Array.isArray(entries)) return refused('bad_answer', 'the answer has no server_keys list');

  let best: Extract<UpstreamAnswerCheck, { outcome: 'usable' }> | undefined;
  let firstRefusal: UpstreamAnswerCheck | undefined;
  let asked = 0;
  /** Key ID → body, over every entry that passed: two bodies for one key ID refuse the answer. */
  const bodies = new Map<string, string>();
  for (const entry of entries) {
    if (!isPlainObject(entry) || entry.server_name !== policy.serverName) continue;
    asked++;
    const signed = checkNotarySignature(entry, identity);
    if (!signed.ok) {
      firstRefusal ??= refused('bad_notary_signature', signed.message);
      continue;
    }
    const check = validateOriginKeyResponse(entry, policy);
    if (!check.ok) {
      firstRefusal ??= refused(check.reason, check.message);
      continue;
    }
    for (const key of check.keys) {
      const seen = bodies.get(key.keyId);
      // The origin signed both, at different times: which body was its first for that key ID
      // (MSC4499's binding) cannot be told from here, so neither is learned.
      if (seen !== undefined && seen !== key.body) {
        return refused('collision', `the answer gives ${key.keyId} two different keys in two responses of ${policy.serverName}`);
      }
      bodies.set(key.keyId, key.body);
    }
    if (best === undefined || check.response.valid_until_ts > best.response.valid_until_ts) {
      // What the signer countersigns: the entry as canonical JSON (the upstream's signature is
      // dropped there, as any third server's is).
      best = { outcome: 'usable', response: check.response, keys: check.keys, keyIds: check.keyIds, bytes: canonicalJsonBytes(entry) };
    }
  }
  if (best !== undefined) return best;
  if (asked === 0) return { outcome: 'empty' };
  return firstRefusal as UpstreamAnswerCheck;
}
