/**
 * Keys the caller already holds and trusts (saved key responses, a test fixture, an offline
 * archive). Each response must still be validly self-signed: a typo in a saved file should fail
 * loudly here, not as a puzzling bad signature later.
 */
import { checkSelfSignedKeyResponse } from '@matrix-notary/protocol';
import { keyRecordsFromResponse, type KeyRecord } from './key-records';
import type { KeyQuery, KeySource, KeySourceResult } from './key-source';

export class StaticKeySource implements KeySource {
  private readonly records: KeyRecord[] = [];

  constructor(
    responses: readonly unknown[],
    readonly name = 'static keys',
  ) {
    responses.forEach((value, i) => {
      const check = checkSelfSignedKeyResponse(value);
      if (!check.ok) throw new Error(`key response ${i} is refused: ${check.message}`);
      this.records.push(...keyRecordsFromResponse(check.response, name));
    });
  }

  async fetchKeys(query: KeyQuery): Promise<KeySourceResult> {
    const records = this.records.filter((r) => query.keys.get(r.serverName)?.has(r.keyId) === true);
    return { records, failures: [] };
  }
}
