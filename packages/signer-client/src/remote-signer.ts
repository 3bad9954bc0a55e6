/**
 * The api and worker roles' way to the signer role in split deployments: the NotarySigner
 * interface over the signer's internal HTTP API, through undici with keep-alive connections, a
 * deadline for each whole call and a cap on answers. Refusals come back as SignerRefusedError
 * with the signer's reason; everything else that goes wrong is a SignerUnavailableError whose
 * message says what to check.
 */
import { Agent, errors as undiciErrors, request } from 'undici';
import { SignerRefusedError, SignerUnavailableError, type SignerRefusalReason } from './errors';
import type { NotarySigner, OwnKeys } from './notary-signer';
import { COUNTERSIGN_PATH, OWN_KEYS_PATH } from './wire';
import { isPlainObject } from '@matrix-notary/protocol';

export interface RemoteSignerOptions {
  /** The signer's base URL (NOTARY_SIGNER_URL), e.g. http://127.0.0.1:8081. */
  url: string;
  /** The signer's bearer token (NOTARY_SIGNER_TOKEN). */
  token: string;
  /** The whole call, connect to last byte (a retry on a closed socket included). */
  timeoutMs: number;
  /**
   * The notary's server name (NOTARY_SERVER_NAME): what this role believes it is. Own-key
   * responses naming another server are refused, so a role pointed at the wrong signer fails
   * loudly instead of serving another notary's keys.
   */
  serverName: string;
  /** Cap on a response body; default 8 MiB (origin responses are capped well below that). */
  maxResponseBytes?: number;
}

const DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

interface WireResponse {
  status: number;
  body: Buffer;
}

/**
 * Errors that mean the connection was closed under the request: most often a kept-alive socket
 * the signer closed (its keep-alive timeout) just as it was reused. Both operations are
 * idempotent (a countersignature depends only on its input), so such a call is sent once more.
 */
const CLOSED_SOCKET_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

export class RemoteSigner implements NotarySigner {
  readonly serverName: string;
  readonly #base: URL;
  readonly #token: string;
  readonly #timeoutMs: number;
  readonly #maxResponseBytes: number;
  readonly #agent: Agent;

  constructor(options: RemoteSignerOptions) {
    let base: URL;
    try {
      base = new URL(options.url);
    } catch {
      throw new Error(`the signer URL ${JSON.stringify(options.url)} is not a URL: check NOTARY_SIGNER_URL`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new Error(`the signer URL must be http: or https:, not ${base.protocol} (NOTARY_SIGNER_URL)`);
    }
    if (!options.token) throw new Error('the signer token is empty: set NOTARY_SIGNER_TOKEN');
    if (!Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0) throw new Error('timeoutMs must be positive');
    this.serverName = options.serverName;
    this.#base = base;
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs;
    this.#maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.#agent = new Agent({ maxResponseSize: this.#maxResponseBytes });
  }

  /** Where the signer is, for messages: the URL without any userinfo. */
  get #where(): string {
    return `the signer at ${this.#base.origin}`;
  }

  async ownKeys(): Promise<OwnKeys> {
    const res = await this.#call('GET', OWN_KEYS_PATH);
    if (res.status !== 200) throw this.#failure(res);
    let parsed: unknown;
    try {
      parsed = JSON.parse(res.body.toString('utf8'));
    } catch {
      throw new SignerUnavailableError(`${this.#where} answered own-keys with something that is not JSON: check NOTARY_SIGNER_URL`);
    }
    if (
      !isPlainObject(parsed) ||
      typeof parsed.server_name !== 'string' ||
      !Number.isSafeInteger(parsed.valid_until_ts) ||
      !isPlainObject(parsed.verify_keys)
    ) {
      throw new SignerUnavailableError(`${this.#where} answered own-keys with something that is not a key response: check NOTARY_SIGNER_URL`);
    }
    if (parsed.server_name !== this.serverName) {
      throw new SignerUnavailableError(
        `${this.#where} signs as ${JSON.stringify(parsed.server_name)}, this role is configured as ${JSON.stringify(this.serverName)}: ` +
          'check NOTARY_SERVER_NAME on both, and NOTARY_SIGNER_URL',
      );
    }
    return {
      bytes: res.body,
      validUntilTs: parsed.valid_until_ts as number,
      verifyKeys: parsed.verify_keys as Record<string, { key: string }>,
    };
  }

  async countersign(originResponseJson: Buffer): Promise<Buffer> {
    const res = await this.#call('POST', COUNTERSIGN_PATH, originResponseJson);
    if (res.status === 200) return res.body;
    throw this.#failure(res);
  }

  async close(): Promise<void> {
    await this.#agent.destroy();
  }

  /** Turns a non-200 answer into the error the caller should see. */
  #failure(res: WireResponse): Error {
    let errcode: unknown;
    let message: unknown;
    let reason: unknown;
    try {
      const body = JSON.parse(res.body.toString('utf8')) as Record<string, unknown>;
      ({ errcode, error: message, reason } = body);
    } catch {
      // not a Matrix error body; described by status below
    }
    if (res.status === 400 && errcode === 'M_NOT_SIGNABLE' && typeof reason === 'string') {
      return new SignerRefusedError(reason as SignerRefusalReason, typeof message === 'string' ? message : 'refused by the signer');
    }
    if (res.status === 413) {
      return new SignerRefusedError('too_large', typeof message === 'string' ? message : 'over the signer\'s body size limit');
    }
    if (res.status === 401) {
      const what = errcode === 'M_MISSING_TOKEN' ? 'says no token reached it' : 'refused our token';
      return new SignerUnavailableError(
        `${this.#where} ${what} (HTTP 401 ${String(errcode)}): NOTARY_SIGNER_TOKEN must be the same for this role and the signer`,
      );
    }
    if (res.status === 404 || res.status === 405) {
      return new SignerUnavailableError(
        `${this.#where} does not know this request (HTTP ${res.status}): check that NOTARY_SIGNER_URL points at a matrix-notary signer of the same version`,
      );
    }
    return new SignerUnavailableError(
      `${this.#where} answered HTTP ${res.status}${typeof errcode === 'string' ? ` ${errcode}` : ''}: see the signer's log`,
      { transient: res.status >= 500 },
    );
  }

  /** One call, sent a second time when the connection was closed under the first. */
  async #call(method: 'GET' | 'POST', path: string, body?: Buffer): Promise<WireResponse> {
    const signal = AbortSignal.timeout(this.#timeoutMs);
    try {
      return await this.#send(method, path, signal, body);
    } catch (err) {
      if (signal.aborted || !CLOSED_SOCKET_CODES.has((err as NodeJS.ErrnoException).code ?? '')) throw this.#describe(err, signal);
    }
    try {
      return await this.#send(method, path, signal, body);
    } catch (err) {
      throw this.#describe(err, signal);
    }
  }

  async #send(method: 'GET' | 'POST', path: string, signal: AbortSignal, body?: Buffer): Promise<WireResponse> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token}`, accept: 'application/json' };
    if (body) headers['content-type'] = 'application/json';
    const res = await request(new URL(path, this.#base), { dispatcher: this.#agent, method, headers, body, signal });
    return { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) };
  }

  /** The SignerUnavailableError for a call that got no complete answer. */
  #describe(err: unknown, signal: AbortSignal): SignerUnavailableError {
    if (signal.aborted) {
      return new SignerUnavailableError(
        `${this.#where} did not answer within ${this.#timeoutMs} ms: check NOTARY_SIGNER_URL and the signer's load`,
        { transient: true },
      );
    }
    if (err instanceof undiciErrors.ResponseExceededMaxSizeError) {
      return new SignerUnavailableError(`${this.#where} sent more than ${this.#maxResponseBytes} bytes: check NOTARY_SIGNER_URL`);
    }
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    return new SignerUnavailableError(
      `could not reach ${this.#where} (${code ?? (err instanceof Error ? err.message : String(err))}): ` +
        'check NOTARY_SIGNER_URL and that the signer role is running',
      { cause: err, transient: true },
    );
  }
}
