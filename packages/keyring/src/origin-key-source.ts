/**
 * Keys straight from each origin's GET /_matrix/key/v2/server. The fetch itself (server discovery,
 * TLS, address filtering, limits) is the federation client's; this source only checks what comes
 * back: it must be validly self-signed by the server asked. It takes the fetch as a function so it
 * can run over the federation client, or anything shaped like it.
 */
import { checkSelfSignedKeyResponse, parseStrictJson } from '@matrix-notary/protocol';
import { keyRecordsFromResponse, type KeyRecord } from './key-records';
import type { KeyQuery, KeySource, KeySourceFailure, KeySourceResult } from './key-source';

/** Shaped like FederationClient.fetchServerKeys of @matrix-notary/federation. */
export type FetchServerKeys = (serverName: string, signal?: AbortSignal) => Promise<{ body: Buffer }>;

/** Origins fetched at once: enough to hide latency, few enough not to flood the network or DNS. */
export const ORIGIN_FETCH_CONCURRENCY = 8;

export interface OriginKeySourceOptions {
  fetchServerKeys: FetchServerKeys;
  concurrency?: number;
}

export class OriginKeySource implements KeySource {
  readonly name = 'origin';

  constructor(private readonly options: OriginKeySourceOptions) {}

  private async fetchOne(serverName: string, signal?: AbortSignal): Promise<KeySourceResult> {
    const source = `origin ${serverName}`;
    let body: Buffer;
    try {
      body = (await this.options.fetchServerKeys(serverName, signal)).body;
    } catch (err) {
      // OriginFetchError carries a `reason` (refused address, timeout, TLS...): keep it in the message.
      const reason = (err as { reason?: unknown }).reason;
      const why = typeof reason === 'string' ? `${reason}: ` : '';
      return { records: [], failures: [{ source, serverName, reason: 'request_failed', message: `${why}${(err as Error).message}` }] };
    }
    let value: unknown;
    try {
      value = parseStrictJson(body.toString('utf8'));
    } catch (err) {
      return { records: [], failures: [{ source, serverName, reason: 'bad_response', message: `not JSON: ${(err as Error).message}` }] };
    }
    const check = checkSelfSignedKeyResponse(value);
    if (!check.ok) {
      return { records: [], failures: [{ source, serverName, reason: 'bad_server_response', message: check.message }] };
    }
    if (check.response.server_name !== serverName) {
      return {
        records: [],
        failures: [{ source, serverName, reason: 'bad_server_response', message: `the answer names itself ${check.response.server_name}` }],
      };
    }
    return { records: keyRecordsFromResponse(check.response, source), failures: [] };
  }

  async fetchKeys(query: KeyQuery): Promise<KeySourceResult> {
    const servers = [...query.keys.keys()];
    const records: KeyRecord[] = [];
    const failures: KeySourceFailure[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < servers.length) {
        const server = servers[next++] as string;
        const result = await this.fetchOne(server, query.signal);
        records.push(...result.records);
        failures.push(...result.failures);
      }
    };
    const n = Math.max(1, Math.min(this.options.concurrency ?? ORIGIN_FETCH_CONCURRENCY, servers.length));
    await Promise.all(Array.from({ length: n }, worker));
    return { records, failures };
  }
}
