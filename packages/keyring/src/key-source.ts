/**
 * Where keys come from. A key source answers a batch of wanted keys with the records it could get
 * and the failures it met; it does not throw for a server or notary that fails, so one bad origin
 * cannot hide the keys of the others, and results can say why a key is missing.
 */
import type { KeyRecord } from './key-records';

export interface KeyQuery {
  /** Server name → the key IDs wanted from it. */
  keys: ReadonlyMap<string, ReadonlySet<string>>;
  /**
   * The latest origin_server_ts among the events being verified: a notary answers from its cache
   * when its copy is valid at least until then, and refreshes from the origin otherwise.
   */
  minimumValidUntilTs: number;
  signal?: AbortSignal;
}

export type KeySourceFailureReason =
  /** The notary's own /_matrix/key/v2/server could not be fetched or did not satisfy its pin. */
  | 'notary_untrusted'
  /** A request failed: connection, timeout, HTTP status, size limit. */
  | 'request_failed'
  /** The answer was not the JSON it should be. */
  | 'bad_response'
  /** A notary's signature on a server's keys is missing or does not verify with a trusted key. */
  | 'bad_notary_signature'
  /** A server's key response is not validly self-signed (or names another server). */
  | 'bad_server_response';

export interface KeySourceFailure {
  /** The source's name, e.g. `notary notary.example`. */
  source: string;
  /** The server whose keys were affected, when the failure concerns one server only. */
  serverName?: string;
  reason: KeySourceFailureReason;
  message: string;
}

export interface KeySourceResult {
  records: KeyRecord[];
  failures: KeySourceFailure[];
}

export interface KeySource {
  readonly name: string;
  fetchKeys(query: KeyQuery): Promise<KeySourceResult>;
}
