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
 * the key. Stored bytes that lack all of them cannot hold the key.
 */
function spellingPrefixes(body: string): Buffer[] {
  const bytes = decodeBase64(body);
  const whole = Math.floor((bytes.length * 8) / 6);
  const standard = encodeBase64(bytes).slice(0, whole);
  const urlSafe = standard.replace(/\+/g, '-').replace(/\//g, '_');
  return [...new Set([standard, urlSafe])].map((s) => Buffer.from(s, 'latin1'));
}

interface KeyMatch {
  keyId: string;
  body: string;
}

export class BannedKeys {
  private readonly anyServer: BannedKey[] = [];
  private readonly byServer = new Map<string, BannedKey[]>();
  private readonly prefixes = new Map<BannedKey, Buffer[]>();

  constructor(readonly entries: readonly BannedKey[]) {
    for (const entry of entries) {
      if (entry.serverName === undefined) this.anyServer.push(entry);
      else this.byServer.set(entry.serverName, [...(this.byServer.get(entry.serverName) ?? []), entry]);
      // Bodies of unknown algorithms (not base64) cannot be listed: parseBannedKeyList requires base64.
      this.prefixes.set(entry, spellingPrefixes(entry.key));
    }
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
   * origin spelled it, unescaped) hold a banned key. Costs a byte search per applicable entry; the
   * bytes are parsed only when one of them holds a banned key's text, to check the key ID scope
   * and the exact body.
   */
  heldIn(serverName: string, bytes: Buffer): boolean {
    if (this.entries.length === 0) return false;
    const candidates = this.applicable(serverName).filter((e) => this.prefixes.get(e)!.some((p) => bytes.includes(p)));
    if (candidates.length === 0) return false;
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
