/**
 * Known-compromised signing keys (NOTARY_BANNED_KEYS_FILE): key bodies, optionally scoped to one
 * server and one key ID, that the notary never serves. Pure: the list is parsed from JSON already
 * read, a response's keys are matched against it, and stored response bytes are checked without
 * parsing them unless they hold a banned key's text.
 */
import { decodeBase64, encodeBase64 } from './base64';
import { isValidKeyId } from './key-id';
import { normalizeKeyBody } from './key-bindings';
import { isValidServerName } from './server-name';

export interface BannedKey {
  /** normalizeKeyBody of the banned key. */
  key: string;
  /** Only this server's key is banned; any server's when absent. */
  serverName?: string;
  /** Only under this key ID; under any key ID when absent. */
  keyId?: string;
  /** Where the entry comes from (free text, never interpreted). */
  note?: string;
}

export class BannedKeyListError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BannedKeyListError';
  }
}

const ENTRY_FIELDS = new Set(['server_name', 'key_id', 'key', 'note']);

/**
 * Parses the file's JSON: a list of `{"server_name"?, "key_id"?, "key": base64, "note"?}`. Unknown
 * fields are refused, so a misspelt scope (`"server"`) cannot silently widen a ban to every server.
 */
export function parseBannedKeyList(value: unknown): BannedKey[] {
  if (!Array.isArray(value)) throw new BannedKeyListError('must be a JSON list of {"server_name"?, "key_id"?, "key": base64} objects');
  return value.map((entry: unknown, i) => {
    const where = `entry ${i}`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new BannedKeyListError(`${where} is not an object`);
    const e = entry as Record<string, unknown>;
    for (const field of Object.keys(e)) {
      if (!ENTRY_FIELDS.has(field)) throw new BannedKeyListError(`${where} has an unknown field "${field}" (allowed: server_name, key_id, key, note)`);
    }
    if (typeof e.key !== 'string' || e.key.length === 0) throw new BannedKeyListError(`${where} has no "key" string`);
    try {
      if (decodeBase64(e.key).length === 0) throw new Error('empty');
    } catch {
      throw new BannedKeyListError(`${where}: "key" is not base64`);
    }
    if (e.server_name !== undefined && !isValidServerName(e.server_name)) {
      throw new BannedKeyListError(`${where}: "server_name" is not a valid server name`);
    }
    if (e.key_id !== undefined && !isValidKeyId(e.key_id)) throw new BannedKeyListError(`${where}: "key_id" is not a valid key ID`);
    if (e.note !== undefined && typeof e.note !== 'string') throw new BannedKeyListError(`${where}: "note" is not a string`);
    return {
      key: normalizeKeyBody(e.key),
      ...(e.server_name === undefined ? {} : { serverName: e.server_name as string }),
      ...(e.key_id === undefined ? {} : { keyId: e.key_id as string }),
      ...(e.note === undefined ? {} : { note: e.note as string }),
    };
  });
}

/**
 * Text every spelling of a base64 body begins with (standard and URL-safe alphabets, padded or not,
 * whatever the unused low bits of the last character): the characters that encode whole bits of
 * the key. A key whose text does not begin so is not that key.
 */
function spellingPrefixes(body: string): string[] {
  const bytes = decodeBase64(body);
  const whole = Math.floor((bytes.length * 8) / 6);
  const standard = encodeBase64(bytes).slice(0, whole);
  const urlSafe = standard.replace(/\+/g, '-').replace(/\//g, '_');
  return [...new Set([standard, urlSafe])];
}

interface KeyMatch {
  keyId: string;
  body: string;
}

/** What precedes every key body in canonical JSON (`{"key":"<base64>"}`, no whitespace). */
const KEY_MEMBER = Buffer.from('"key":"', 'latin1');

export class BannedKeys {
  private readonly anyServer: BannedKey[] = [];
  private readonly byServer = new Map<string, BannedKey[]>();
  /** Spelling prefixes of the keys banned for every server, and per server. */
  private readonly anyServerPrefixes = new Set<string>();
  private readonly serverPrefixes = new Map<string, Set<string>>();
  private readonly prefixLengths: number[];

  constructor(readonly entries: readonly BannedKey[]) {
    const lengths = new Set<number>();
    for (const entry of entries) {
      let prefixes = this.anyServerPrefixes;
      if (entry.serverName === undefined) {
        this.anyServer.push(entry);
      } else {
        this.byServer.set(entry.serverName, [...(this.byServer.get(entry.serverName) ?? []), entry]);
        prefixes = this.serverPrefixes.get(entry.serverName) ?? new Set();
        this.serverPrefixes.set(entry.serverName, prefixes);
      }
      // parseBannedKeyList requires base64 keys, so every entry has spelling prefixes.
      for (const prefix of spellingPrefixes(entry.key)) {
        prefixes.add(prefix);
        lengths.add(prefix.length);
      }
    }
    this.prefixLengths = [...lengths];
  }

  get size(): number {
    return this.entries.length;
  }

  private applicable(serverName: string): BannedKey[] {
    const scoped = this.byServer.get(serverName);
    return scoped === undefined ? this.anyServer : [...this.anyServer, ...scoped];
  }

  /** The ban entry a key of `serverName` falls under, or undefined. `body`: normalizeKeyBody. */
  match(serverName: string, keyId: string, body: string): BannedKey | undefined {
    return this.applicable(serverName).find((e) => e.key === body && (e.keyId === undefined || e.keyId === keyId));
  }

  /** The first key (of a response of `serverName`) that is banned, with its entry. */
  find(serverName: string, keys: readonly KeyMatch[]): { keyId: string; entry: BannedKey } | undefined {
    if (this.entries.length === 0) return undefined;
    for (const k of keys) {
      const entry = this.match(serverName, k.keyId, k.body);
      if (entry !== undefined) return { keyId: k.keyId, entry };
    }
    return undefined;
  }

  /**
   * Whether stored response bytes of `serverName` (canonical JSON, so a key is written as the
   * origin spelled it, right after `"key":"`) hold a banned key. Runs on cache hits: one scan for
   * `"key":"` and a set lookup per key found, whatever the length of the list; the bytes are
   * parsed only when a key begins like a banned one, to check the key ID scope and the exact body.
   */
  heldIn(serverName: string, bytes: Buffer): boolean {
    if (this.entries.length === 0) return false;
    const scoped = this.serverPrefixes.get(serverName);
    for (let at = bytes.indexOf(KEY_MEMBER); at >= 0; at = bytes.indexOf(KEY_MEMBER, at + KEY_MEMBER.length)) {
      const start = at + KEY_MEMBER.length;
      for (const length of this.prefixLengths) {
        const text = bytes.toString('latin1', start, start + length);
        if (this.anyServerPrefixes.has(text) || scoped?.has(text)) return this.exactlyHeldIn(serverName, bytes);
      }
    }
    return false;
  }

  private exactlyHeldIn(serverName: string, bytes: Buffer): boolean {
    const candidates = this.applicable(serverName);
    let response: { verify_keys?: Record<string, { key?: unknown }>; old_verify_keys?: Record<string, { key?: unknown }> };
    try {
      response = JSON.parse(bytes.toString('utf8'));
    } catch {
      return true; // cannot tell: a stored response that holds a banned key's text is not served
    }
    for (const map of [response.verify_keys, response.old_verify_keys]) {
      for (const [keyId, entry] of Object.entries(map ?? {})) {
        if (typeof entry?.key !== 'string') continue;
        const body = normalizeKeyBody(entry.key);
        if (candidates.some((e) => e.key === body && (e.keyId === undefined || e.keyId === keyId))) return true;
      }
    }
    return false;
  }
}

/** An empty list: nothing banned. */
export const NO_BANNED_KEYS = new BannedKeys([]);
