/**
 * Turning a caller's key query (any of the GET forms, or a POST body) into a validated list of
 * origins to answer for. No I/O. Everything a stranger sends is checked and bounded here, before
 * anything touches Redis. A KeyQueryParser remembers what it found valid (bounded caches of its
 * own, one per request handler), so the same hot URLs and names are not parsed again.
 */
import { LRUCache } from 'lru-cache';
import { badJson, invalidParam, tooLarge } from '@matrix-notary/common';
import { isValidKeyId, isValidServerName, nonCanonicalServerNameReason, isPlainObject } from '@matrix-notary/protocol';

export interface QueryLimits {
  maxServersPerQuery: number;
  maxKeysPerServer: number;
}

export interface ServerKeyQuery {
  serverName: string;
  /** Key IDs asked for; empty means every key of the server. Shared with the parser's cache: never changed. */
  keyIds: readonly string[];
  /** The latest minimum_valid_until_ts asked for any of its keys; now when none was given. */
  minValidUntilTs: number;
}

/** An integer written one way only, as in the POST body's strict rule: no `-0`, no leading zeros. */
const INTEGER_TEXT = /^(?:0|-?[1-9][0-9]{0,15})$/;

function parseTimestampText(text: string, what: string): number {
  const n = Number(text);
  if (!INTEGER_TEXT.test(text) || !Number.isSafeInteger(n)) {
    throw invalidParam(`${what} must be an integer millisecond timestamp`);
  }
  return n;
}

function decodeSegment(segment: string, what: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw invalidParam(`${what} is not validly percent-encoded`);
  }
}

/** A caller's value, shortened for an error message. */
function quote(value: string): string {
  return JSON.stringify(value.length > 300 ? `${value.slice(0, 300)}…` : value);
}

/** What a GET target says, apart from "now". */
interface GetTarget {
  serverName: string;
  /** Frozen: handed to every request of the same URL. */
  keyIds: readonly string[];
  /** The caller's minimum_valid_until_ts, if it gave one. */
  given?: number;
}

/** Entries each of a parser's caches holds at most, so strangers' names and URLs cannot grow them. */
const CACHE_ENTRIES = 10_000;
const NO_KEY_IDS: readonly string[] = Object.freeze([]);

export class KeyQueryParser {
  /** Names already found valid and canonical: the same few servers are asked for constantly, and checking a name parses it three times. */
  private readonly acceptedNames = new LRUCache<string, true>({ max: CACHE_ENTRIES });
  /** Key IDs already found valid: a handful (ed25519:auto, ed25519:a_xyz...) are asked constantly. */
  private readonly acceptedKeyIds = new LRUCache<string, true>({ max: CACHE_ENTRIES });
  /** GET targets already parsed: hot servers are asked for by the same URLs over and over. */
  private readonly parsedTargets = new LRUCache<string, GetTarget>({ max: CACHE_ENTRIES });

  constructor(private readonly limits: QueryLimits) {}

  /**
   * GET /_matrix/key/v2/query/{serverName}[/{keyId}[/{minimum_valid_until_ts}]][?minimum_valid_until_ts=]
   * `rest` is the path after `/_matrix/key/v2/query/`, `search` the raw query string (without '?').
   * What a URL parses to is remembered (bad URLs never are), so a hot GET is not parsed again.
   */
  getQuery(rest: string, search: string, nowMs: number): ServerKeyQuery {
    const key = search === '' ? rest : `${rest}?${search}`;
    let target = this.parsedTargets.get(key);
    if (target === undefined) {
      target = this.parseGetTarget(rest, search);
      this.parsedTargets.set(key, target);
    }
    return { serverName: target.serverName, keyIds: target.keyIds, minValidUntilTs: target.given ?? nowMs };
  }

  /**
   * The servers of a POST body, `[name, criteria]` in the order given, once the body's shape and
   * the number of servers are checked; each is then read by serverCriteria.
   */
  postServers(body: unknown): Array<[string, unknown]> {
    if (!isPlainObject(body)) throw badJson('the body must be a JSON object');
    const serverKeys = body.server_keys;
    if (!isPlainObject(serverKeys)) throw badJson('server_keys must be an object mapping server names to key criteria');
    const servers = Object.entries(serverKeys);
    if (servers.length > this.limits.maxServersPerQuery) {
      throw tooLarge(`a query may name at most ${this.limits.maxServersPerQuery} servers; this one names ${servers.length}`);
    }
    return servers;
  }

  /** One server of a POST body: `{keyId: {"minimum_valid_until_ts": n}}`, or the pre-spec `[keyId, ...]`. */
  serverCriteria(serverName: string, criteria: unknown, nowMs: number): ServerKeyQuery {
    const { maxKeysPerServer } = this.limits;
    let keyIds: string[];
    let minValidUntilTs: number | undefined;
    if (Array.isArray(criteria)) {
      if (criteria.length > maxKeysPerServer) {
        throw tooLarge(`at most ${maxKeysPerServer} key IDs may be asked per server`);
      }
      if (!criteria.every((k): k is string => typeof k === 'string')) {
        throw badJson(`the key ID list for ${quote(serverName)} must hold strings only`);
      }
      keyIds = criteria;
    } else if (isPlainObject(criteria)) {
      keyIds = Object.keys(criteria);
      if (keyIds.length > maxKeysPerServer) {
        throw tooLarge(`at most ${maxKeysPerServer} key IDs may be asked per server`);
      }
      for (const keyId of keyIds) {
        const c = criteria[keyId];
        if (!isPlainObject(c)) throw badJson(`the criteria for key ${quote(keyId)} must be an object`);
        const given = c.minimum_valid_until_ts;
        if (given !== undefined && !Number.isSafeInteger(given)) throw badJson('minimum_valid_until_ts must be an integer');
        // A key asked without a timestamp is asked "valid now" (the spec's default).
        const ts = given === undefined ? nowMs : (given as number);
        minValidUntilTs = Math.max(minValidUntilTs ?? ts, ts);
      }
    } else {
      throw badJson(`the criteria for ${quote(serverName)} must be an object`);
    }
    this.checkServerName(serverName);
    for (const keyId of keyIds) this.checkKeyId(keyId);
    // An object's member names are distinct already; only the pre-spec list may repeat one.
    if (Array.isArray(criteria) && keyIds.length > 1) keyIds = [...new Set(keyIds)];
    return { serverName, keyIds, minValidUntilTs: minValidUntilTs ?? nowMs };
  }

  /**
   * POST /_matrix/key/v2/query: `{"server_keys": {server: {keyId: {"minimum_valid_until_ts": n}}}}`,
   * or the pre-spec form `{"server_keys": {server: [keyId, ...]}}`. `body` is the parsed JSON.
   */
  postQuery(body: unknown, nowMs: number): ServerKeyQuery[] {
    return this.postServers(body).map(([name, criteria]) => this.serverCriteria(name, criteria, nowMs));
  }

  private checkServerName(name: string): void {
    if (this.acceptedNames.has(name)) return;
    if (!isValidServerName(name)) throw invalidParam(`${quote(name)} is not a valid server name`);
    // One spelling per origin, so rate limits cannot be dodged by spelling one host many ways.
    const why = nonCanonicalServerNameReason(name);
    if (why !== null) throw invalidParam(`server name ${quote(name)} is refused: ${why}`);
    this.acceptedNames.set(name, true);
  }

  private checkKeyId(keyId: string): void {
    if (this.acceptedKeyIds.has(keyId)) return;
    if (!isValidKeyId(keyId)) throw invalidParam(`${quote(keyId)} is not a valid key ID`);
    this.acceptedKeyIds.set(keyId, true);
  }

  private parseGetTarget(rest: string, search: string): GetTarget {
    const segments = rest.split('/');
    if (segments.length > 3) throw invalidParam('the query path has too many segments');
    const serverName = decodeSegment(segments[0], 'the server name');
    this.checkServerName(serverName);
    let keyIds = NO_KEY_IDS;
    if (segments.length > 1 && segments[1] !== '') {
      const keyId = decodeSegment(segments[1], 'the key ID');
      this.checkKeyId(keyId);
      keyIds = Object.freeze([keyId]);
    }
    let given: number | undefined;
    if (segments.length > 2 && segments[2] !== '') {
      given = parseTimestampText(decodeSegment(segments[2], 'minimum_valid_until_ts'), 'minimum_valid_until_ts');
    }
    if (search) {
      const params = new URLSearchParams(search);
      const values = params.getAll('minimum_valid_until_ts');
      if (values.length > 1) throw invalidParam('minimum_valid_until_ts is given more than once');
      if (values.length === 1) {
        const fromQuery = parseTimestampText(values[0], 'minimum_valid_until_ts');
        given = Math.max(given ?? fromQuery, fromQuery);
      }
    }
    return { serverName, keyIds, given };
  }
}
