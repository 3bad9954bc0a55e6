/**
 * Keys through a notary (perspectives server): one POST /_matrix/key/v2/query per batch of servers,
 * every answer checked twice: the notary's signature against the notary's trusted keys, and the
 * origin's own self-signature, so a notary can withhold keys but not invent them.
 */
import { checkSelfSignedKeyResponse, parseStrictJson, isPlainObject } from '@matrix-notary/protocol';
import { keyRecordsFromResponse, type KeyRecord } from './key-records';
import type { KeyQuery, KeySource, KeySourceFailure, KeySourceResult } from './key-source';
import { createHttpRequest, HttpRequestError, type HttpRequestFn } from './http-request';
import { retryTransient, TRANSIENT_RETRY, type RetryPolicy } from './retry';
import { checkNotarySignature, decodePinnedKeys, trustNotaryKeyResponse, type NotaryIdentity, type PinnedKeys } from './notary-trust';

export const NOTARY_TIMEOUT_MS = 15_000;
export const NOTARY_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;
/** Servers per POST; below DESIGN's default NOTARY_MAX_SERVERS_PER_QUERY (5000). */
export const NOTARY_MAX_SERVERS_PER_REQUEST = 1000;
/** Key IDs per server per POST; DESIGN's default NOTARY_MAX_KEYS_PER_SERVER. */
export const NOTARY_MAX_KEYS_PER_SERVER = 100;

export interface NotaryKeySourceOptions {
  /** Base URL of the notary, e.g. `https://notary.example` (paths are appended). */
  url: string;
  /** Key ID → base64 public key of the notary. At least one is needed unless `insecure`. */
  pinnedKeys?: PinnedKeys;
  /** Accept the notary without pins, trusting the keys it advertises (Synapse's accept_keys_insecurely). */
  insecure?: boolean;
  timeoutMs?: number;
  maxResponseBytes?: number;
  /** Extra CA certificates (PEM) for an https notary. */
  ca?: string;
  /** Replaces the HTTP client (tests); `ca` and `maxResponseBytes` are then its business. */
  request?: HttpRequestFn;
  /** How transport failures (network, timeout, HTTP 5xx or 429) are retried; default TRANSIENT_RETRY. */
  retry?: RetryPolicy;
}

export class NotaryKeySource implements KeySource {
  private readonly baseUrl: URL;
  private readonly pins: Map<string, Uint8Array>;
  private readonly request: HttpRequestFn;
  /** Set once the notary proved itself: identities do not change for the life of a source. */
  private trusted: NotaryIdentity | null = null;
  /** Set once the notary failed its pin: that will not change by asking again. */
  private distrusted: NotaryTrustError | null = null;
  /** An identification under way, shared by concurrent callers. */
  private identifying: Promise<NotaryIdentity> | null = null;
  private knownName: string | null = null;

  constructor(private readonly options: NotaryKeySourceOptions) {
    this.baseUrl = new URL(options.url);
    if (this.baseUrl.protocol !== 'http:' && this.baseUrl.protocol !== 'https:') {
      throw new Error(`notary URL ${options.url} is not http(s)`);
    }
    this.pins = decodePinnedKeys(options.pinnedKeys ?? {});
    this.request =
      options.request ??
      createHttpRequest({ ca: options.ca, maxResponseBytes: options.maxResponseBytes ?? NOTARY_MAX_RESPONSE_BYTES });
  }

  /** `notary <server name>` once the notary is identified, `notary <url>` before. */
  get name(): string {
    return this.knownName ? `notary ${this.knownName}` : `notary ${this.baseUrl.origin}`;
  }

  get url(): string {
    return this.baseUrl.href;
  }

  private endpoint(path: string): URL {
    const base = this.baseUrl.href.endsWith('/') ? this.baseUrl.href : this.baseUrl.href + '/';
    return new URL(path.replace(/^\//, ''), base);
  }

  /** One request, retried on transport failures only (an answer that is wrong stays wrong). */
  private async getJson(path: string, method: 'GET' | 'POST', body: unknown, signal?: AbortSignal): Promise<unknown> {
    const res = await retryTransient(
      async () => {
        const answer = await this.request(this.endpoint(path), {
          method,
          body: body === undefined ? undefined : Buffer.from(JSON.stringify(body)),
          headers: body === undefined ? {} : { 'content-type': 'application/json' },
          timeoutMs: this.options.timeoutMs ?? NOTARY_TIMEOUT_MS,
          signal,
        });
        if (answer.statusCode >= 500 || answer.statusCode === 429) {
          throw new NotaryAnswerError('request_failed', `${method} ${path} answered HTTP ${answer.statusCode}`, true);
        }
        return answer;
      },
      isTransient,
      this.options.retry ?? TRANSIENT_RETRY,
      signal,
    ).catch((err: unknown) => {
      if (err instanceof NotaryAnswerError) throw err;
      throw new NotaryAnswerError('request_failed', `${method} ${path} failed: ${(err as Error).message}`, isTransient(err));
    });
    if (res.statusCode !== 200) {
      throw new NotaryAnswerError('request_failed', `${method} ${path} answered HTTP ${res.statusCode}`);
    }
    try {
      return parseStrictJson(res.body.toString('utf8'));
    } catch (err) {
      throw new NotaryAnswerError('bad_response', `${method} ${path} did not answer JSON: ${(err as Error).message}`);
    }
  }

  /**
   * The notary's identity from its own key response. A notary that failed its pin stays
   * untrusted for the life of this source (NotaryTrustError); one that could not be reached is
   * asked again by the next call (NotaryUnreachableError), after this call's own retries.
   */
  identify(signal?: AbortSignal): Promise<NotaryIdentity> {
    if (this.trusted !== null) return Promise.resolve(this.trusted);
    if (this.distrusted !== null) return Promise.reject(this.distrusted);
    if (this.identifying === null) {
      this.identifying = this.fetchIdentity(signal).finally(() => {
        this.identifying = null;
      });
    }
    return this.identifying;
  }

  private async fetchIdentity(signal?: AbortSignal): Promise<NotaryIdentity> {
    let value: unknown;
    try {
      value = await this.getJson('/_matrix/key/v2/server', 'GET', undefined, signal);
    } catch (err) {
      const message = `notary ${this.baseUrl.origin}: ${(err as Error).message}`;
      if (err instanceof NotaryAnswerError && err.transient) throw new NotaryUnreachableError(message);
      throw (this.distrusted = new NotaryTrustError(message));
    }
    const trust = trustNotaryKeyResponse(value, this.pins, this.options.insecure === true);
    if (!trust.ok) throw (this.distrusted = new NotaryTrustError(`notary ${this.baseUrl.origin}: ${trust.message}`));
    this.knownName = trust.identity.serverName;
    this.trusted = trust.identity;
    return trust.identity;
  }

  async fetchKeys(query: KeyQuery): Promise<KeySourceResult> {
    const records: KeyRecord[] = [];
    const failures: KeySourceFailure[] = [];
    if (query.keys.size === 0) return { records, failures };
    let identity: NotaryIdentity;
    try {
      identity = await this.identify(query.signal);
    } catch (err) {
      const reason = err instanceof NotaryUnreachableError ? 'request_failed' : 'notary_untrusted';
      failures.push({ source: this.name, reason, message: (err as Error).message });
      return { records, failures };
    }
    for (const batch of batches(query, NOTARY_MAX_SERVERS_PER_REQUEST)) {
      const answer = await this.queryBatch(batch, query, identity);
      records.push(...answer.records);
      failures.push(...answer.failures);
    }
    return { records, failures };
  }

  private async queryBatch(
    servers: Array<[string, string[]]>,
    query: KeyQuery,
    identity: NotaryIdentity,
  ): Promise<KeySourceResult> {
    const records: KeyRecord[] = [];
    const failures: KeySourceFailure[] = [];
    const serverKeys: Record<string, Record<string, { minimum_valid_until_ts: number }>> = {};
    for (const [server, keyIds] of servers) {
      serverKeys[server] = Object.fromEntries(keyIds.map((k) => [k, { minimum_valid_until_ts: query.minimumValidUntilTs }]));
    }
    let answer: unknown;
    try {
      answer = await this.getJson('/_matrix/key/v2/query', 'POST', { server_keys: serverKeys }, query.signal);
    } catch (err) {
      const reason = err instanceof NotaryAnswerError ? err.reason : 'request_failed';
      failures.push({ source: this.name, reason, message: (err as Error).message });
      return { records, failures };
    }
    const entries = isPlainObject(answer) ? answer.server_keys : undefined;
    if (!Array.isArray(entries)) {
      failures.push({ source: this.name, reason: 'bad_response', message: 'the query answer has no server_keys list' });
      return { records, failures };
    }
    const asked = new Set(servers.map(([s]) => s));
    for (const entry of entries) {
      if (!isPlainObject(entry)) {
        failures.push({ source: this.name, reason: 'bad_response', message: 'a server_keys entry is not an object' });
        continue;
      }
      const serverName = typeof entry.server_name === 'string' ? entry.server_name : undefined;
      // Keys of a server nobody asked for are dropped unread: they cannot matter to this batch.
      if (serverName === undefined || !asked.has(serverName)) continue;
      const notarySig = checkNotarySignature(entry, identity);
      if (!notarySig.ok) {
        failures.push({ source: this.name, serverName, reason: 'bad_notary_signature', message: `keys of ${serverName} refused: ${notarySig.message}` });
        continue;
      }
      const own = checkSelfSignedKeyResponse(entry);
      if (!own.ok) {
        failures.push({ source: this.name, serverName, reason: 'bad_server_response', message: `keys of ${serverName} refused: ${own.message}` });
        continue;
      }
      records.push(...keyRecordsFromResponse(own.response, this.name));
    }
    return { records, failures };
  }
}

/** The notary is not to be trusted: its own key response failed its pin or is not valid. */
export class NotaryTrustError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotaryTrustError';
  }
}

/** The notary could not be asked (network, timeout, 5xx) even after retries; later calls try again. */
export class NotaryUnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotaryUnreachableError';
  }
}

class NotaryAnswerError extends Error {
  constructor(
    readonly reason: 'request_failed' | 'bad_response',
    message: string,
    /** A transport failure: asking again may work. */
    readonly transient = false,
  ) {
    super(message);
    this.name = 'NotaryAnswerError';
  }
}

function isTransient(err: unknown): boolean {
  if (err instanceof NotaryAnswerError) return err.transient;
  // Lost or late answers may come next time; an aborted request, a bad URL or an oversized answer will not.
  return err instanceof HttpRequestError ? err.reason === 'network' || err.reason === 'timeout' : true;
}

/**
 * Splits the wanted keys into POST bodies of at most `maxServers` servers and 100 key IDs per
 * server; a server with more key IDs than that is asked again in the next body.
 */
function batches(query: KeyQuery, maxServers: number): Array<Array<[string, string[]]>> {
  const out: Array<Array<[string, string[]]>> = [];
  let current: Array<[string, string[]]> = [];
  let inCurrent = new Set<string>();
  for (const [server, keyIds] of query.keys) {
    const ids = [...keyIds];
    for (let i = 0; i === 0 || i < ids.length; i += NOTARY_MAX_KEYS_PER_SERVER) {
      if (current.length >= maxServers || inCurrent.has(server)) {
        out.push(current);
        current = [];
        inCurrent = new Set();
      }
      current.push([server, ids.slice(i, i + NOTARY_MAX_KEYS_PER_SERVER)]);
      inCurrent.add(server);
    }
  }
  if (current.length > 0) out.push(current);
  return out;
}
