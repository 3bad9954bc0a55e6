/**
 * NOTARY_UPSTREAM_NOTARIES_FILE: other notaries the worker asks for an origin's keys when the
 * origin cannot be reached and nothing is stored for it. A JSON list of
 * `{"server_name", "url", "verify_keys": {"ed25519:id": base64}}`, like Synapse's
 * `trusted_key_servers`. Parsed strictly at start: a typo (an unknown field, a key that is not a
 * key) stops the role with one line naming the variable, rather than an upstream silently never
 * trusted, or trusted with the wrong key.
 */
import fs from 'node:fs';
import {
  CanonicalJsonError,
  decodeEd25519PublicKey,
  encodeBase64,
  isEd25519KeyId,
  nonCanonicalServerNameReason,
  parseStrictJson,
  isPlainObject,
} from '@matrix-notary/protocol';
import type { VariableReader } from './config/read';

export interface UpstreamNotary {
  /** The upstream's server name: its signatures on answers are under this name. */
  serverName: string;
  /** Its base URL, ending in `/`: the key query goes to `<url>_matrix/key/v2/query`. */
  url: string;
  /** The keys its answers must be signed with: key ID → unpadded base64 ed25519 public key. */
  verifyKeys: Record<string, string>;
}

/**
 * Upstreams one file may list. Each refresh of an unreachable origin the notary holds nothing for
 * may ask every one of them in turn (within one NOTARY_ORIGIN_TIMEOUT_MS), so the list is short.
 */
export const MAX_UPSTREAM_NOTARIES = 5;
/** Pinned keys per upstream: a rotation needs two; more is a mistake. */
export const MAX_UPSTREAM_KEYS = 8;

const FIELDS = new Set(['server_name', 'url', 'verify_keys']);
const SHAPE = '[{"server_name": "notary.example.org", "url": "https://notary.example.org", "verify_keys": {"ed25519:id": "<base64 key>"}}]';

export class UpstreamNotaryListError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UpstreamNotaryListError';
  }
}

function parseUrl(value: unknown, where: string): string {
  let url: URL;
  try {
    if (typeof value !== 'string') throw new TypeError();
    url = new URL(value);
  } catch {
    throw new UpstreamNotaryListError(`${where}: "url" must be an http:// or https:// URL such as https://notary.example.org`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UpstreamNotaryListError(`${where}: "url" must be http:// or https://, not ${url.protocol}`);
  if (url.username !== '' || url.password !== '') throw new UpstreamNotaryListError(`${where}: "url" must not hold a user name or password`);
  if (url.search !== '' || url.hash !== '') throw new UpstreamNotaryListError(`${where}: "url" must not have a query or a fragment`);
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url.href;
}

function parseKeys(value: unknown, where: string): Record<string, string> {
  if (!isPlainObject(value) || Object.keys(value).length === 0) {
    throw new UpstreamNotaryListError(`${where}: "verify_keys" must be an object of at least one {"ed25519:<id>": "<base64 public key>"}`);
  }
  if (Object.keys(value).length > MAX_UPSTREAM_KEYS) throw new UpstreamNotaryListError(`${where}: more than ${MAX_UPSTREAM_KEYS} verify_keys`);
  const keys: Record<string, string> = {};
  for (const [keyId, key] of Object.entries(value)) {
    if (!isEd25519KeyId(keyId)) throw new UpstreamNotaryListError(`${where}: ${JSON.stringify(keyId)} is not an ed25519 key ID ("ed25519:" then letters, digits and "_")`);
    const raw = decodeEd25519PublicKey(key);
    if (raw === null) throw new UpstreamNotaryListError(`${where}: the key of ${keyId} is not the base64 of a 32-byte ed25519 public key`);
    keys[keyId] = encodeBase64(raw);
  }
  return keys;
}

/** Parses the file's text. `ownServerName` is refused as an upstream: a notary cannot vouch for itself. */
export function parseUpstreamNotaryList(text: string, ownServerName: string): UpstreamNotary[] {
  let value: unknown;
  try {
    value = parseStrictJson(text);
  } catch (err) {
    if (err instanceof SyntaxError || err instanceof CanonicalJsonError) throw new UpstreamNotaryListError(`is not JSON (${err.message}); expected ${SHAPE}`);
    throw err;
  }
  if (!Array.isArray(value)) throw new UpstreamNotaryListError(`must be a JSON list: ${SHAPE}`);
  if (value.length > MAX_UPSTREAM_NOTARIES) throw new UpstreamNotaryListError(`lists ${value.length} notaries; at most ${MAX_UPSTREAM_NOTARIES} are allowed`);
  const seen = new Set<string>();
  return value.map((entry: unknown, i) => {
    const where = `entry ${i}`;
    if (!isPlainObject(entry)) throw new UpstreamNotaryListError(`${where} is not an object: ${SHAPE}`);
    const unknown = Object.keys(entry).filter((f) => !FIELDS.has(f));
    if (unknown.length > 0) {
      throw new UpstreamNotaryListError(`${where} has unknown field(s) ${unknown.map((f) => JSON.stringify(f)).join(', ')} (allowed: server_name, url, verify_keys)`);
    }
    const serverName = entry.server_name;
    if (typeof serverName !== 'string') throw new UpstreamNotaryListError(`${where} has no "server_name" string`);
    const why = nonCanonicalServerNameReason(serverName);
    if (why !== null) throw new UpstreamNotaryListError(`${where}: "server_name" ${JSON.stringify(serverName)} is refused: ${why}`);
    if (serverName === ownServerName) throw new UpstreamNotaryListError(`${where}: "server_name" is this notary's own name (NOTARY_SERVER_NAME): a notary cannot be its own upstream`);
    if (seen.has(serverName)) throw new UpstreamNotaryListError(`${where}: ${serverName} is listed twice`);
    seen.add(serverName);
    return { serverName, url: parseUrl(entry.url, where), verifyKeys: parseKeys(entry.verify_keys, where) };
  });
}

/**
 * Reads NOTARY_UPSTREAM_NOTARIES_FILE, if set, recording a problem (which stops the start) when it
 * cannot be read or parsed. Empty when the variable is unset.
 */
export function readUpstreamNotaries(
  reader: VariableReader,
  ownServerName: string,
  readFile: (path: string) => string = (p) => fs.readFileSync(p, 'utf8'),
): UpstreamNotary[] {
  const file = reader.optional('NOTARY_UPSTREAM_NOTARIES_FILE');
  if (file === undefined) return [];
  let text: string;
  try {
    text = readFile(file);
  } catch (err) {
    reader.problem(`NOTARY_UPSTREAM_NOTARIES_FILE ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): check its path and permissions`);
    return [];
  }
  try {
    return parseUpstreamNotaryList(text, ownServerName);
  } catch (err) {
    if (!(err instanceof UpstreamNotaryListError)) throw err;
    reader.problem(`NOTARY_UPSTREAM_NOTARIES_FILE ${file} ${err.message}`);
    return [];
  }
}
