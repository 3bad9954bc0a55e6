/**
 * The content hash (spec: "Calculating the content hash for an event"): sha256 over the canonical
 * JSON of the event without `unsigned`, `signatures` and `hashes`. It is checked apart from the
 * signatures because a failure means something else: the signatures cover only the redacted form,
 * so an event whose hash does not match is authentic but must be treated as redacted.
 */
import { createHash } from 'node:crypto';
import { canonicalJsonBytes, encodeBase64, type JsonObject } from '@matrix-notary/protocol';

export type ContentHashStatus =
  /** `hashes.sha256` matches the event. */
  | 'match'
  /** It does not: the event was altered (or redacted) after signing; treat it as redacted. */
  | 'mismatch'
  /** The event carries no `hashes.sha256` string. */
  | 'missing'
  /** The event cannot be encoded as canonical JSON (e.g. a float), so no hash can be computed. */
  | 'uncomputable';

export interface ContentHashCheck {
  status: ContentHashStatus;
  /** The value claimed in `hashes.sha256`, when it is a string. */
  expected?: string;
  /** The hash computed here, when it could be computed. */
  actual?: string;
  /** A sentence for people. */
  reason: string;
}

/** The unpadded base64 sha256 content hash of an event. Throws CanonicalJsonError when not encodable. */
export function computeContentHash(event: JsonObject): string {
  const { unsigned: _u, signatures: _s, hashes: _h, ...rest } = event;
  return encodeBase64(createHash('sha256').update(canonicalJsonBytes(rest)).digest());
}

function claimedHash(event: JsonObject): string | undefined {
  const hashes = event.hashes;
  if (typeof hashes !== 'object' || hashes === null || Array.isArray(hashes)) return undefined;
  const sha = (hashes as JsonObject).sha256;
  return typeof sha === 'string' ? sha : undefined;
}

export function checkContentHash(event: JsonObject): ContentHashCheck {
  const expected = claimedHash(event);
  let actual: string;
  try {
    actual = computeContentHash(event);
  } catch (err) {
    return { status: 'uncomputable', expected, reason: `the content hash cannot be computed: ${(err as Error).message}` };
  }
  if (expected === undefined) {
    return { status: 'missing', actual, reason: 'the event has no hashes.sha256' };
  }
  // Compare decoded bytes would also accept padded or URL-safe spellings; the spec sends unpadded
  // standard base64, and a differently spelled but equal hash is rare enough to report as mismatch.
  if (expected === actual) return { status: 'match', expected, actual, reason: 'hashes.sha256 matches the event' };
  return {
    status: 'mismatch',
    expected,
    actual,
    reason: 'hashes.sha256 does not match the event: its content was changed or redacted after signing (treat as redacted)',
  };
}
