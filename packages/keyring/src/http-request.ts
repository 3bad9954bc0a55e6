/**
 * Bounded HTTP(S) requests to a notary through undici: a deadline for the whole exchange and a cap
 * on the answer, so a slow or hostile notary cannot stall or exhaust the caller. Each request
 * function has its own connection pool, trusting the extra CA certificates it was made with
 * (tests, private notaries); idle connections do not keep the process alive.
 */
import { Agent, errors as undiciErrors, request } from 'undici';

export interface HttpClientOptions {
  maxResponseBytes: number;
  /** Extra trusted CA certificates (PEM) for https URLs; they replace the system's, as in node:tls. */
  ca?: string;
}

export interface HttpRequestOptions {
  method: 'GET' | 'POST';
  body?: Buffer;
  headers?: Record<string, string>;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface HttpResponse {
  statusCode: number;
  body: Buffer;
}

export type HttpRequestFailure = 'timeout' | 'too_large' | 'network' | 'aborted' | 'bad_url';

export class HttpRequestError extends Error {
  constructor(
    readonly reason: HttpRequestFailure,
    message: string,
  ) {
    super(message);
    this.name = 'HttpRequestError';
  }
}

export type HttpRequestFn = (url: URL, options: HttpRequestOptions) => Promise<HttpResponse>;

export function createHttpRequest(client: HttpClientOptions): HttpRequestFn {
  const max = client.maxResponseBytes;
  const agent = new Agent({ maxResponseSize: max, ...(client.ca ? { connect: { ca: client.ca } } : {}) });
  const tooLarge = (url: URL) => new HttpRequestError('too_large', `the answer from ${url.origin} is over ${max} bytes`);

  return async (url, options) => {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new HttpRequestError('bad_url', `${url.href} is not an http(s) URL`);
    if (options.signal?.aborted) throw new HttpRequestError('aborted', 'the request was aborted');
    // The deadline and the caller's signal as one signal (what AbortSignal.any does from Node 20.3).
    const deadline = AbortSignal.timeout(options.timeoutMs);
    const both = new AbortController();
    const stop = (): void => both.abort();
    deadline.addEventListener('abort', stop, { once: true });
    options.signal?.addEventListener('abort', stop, { once: true });
    try {
      const res = await request(url, {
        dispatcher: agent,
        method: options.method,
        headers: { accept: 'application/json', ...options.headers },
        body: options.body,
        signal: both.signal,
      });
      // A declared length over the cap is refused before any of it is read.
      if (Number(res.headers['content-length']) > max) {
        res.body.on('error', () => undefined); // the abort error destroy() emits: ours is thrown below
        res.body.destroy();
        throw tooLarge(url);
      }
      return { statusCode: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) };
    } catch (err) {
      if (err instanceof HttpRequestError) throw err;
      if (deadline.aborted) throw new HttpRequestError('timeout', `no complete answer from ${url.origin} within ${options.timeoutMs} ms`);
      if (options.signal?.aborted) throw new HttpRequestError('aborted', 'the request was aborted');
      if (err instanceof undiciErrors.ResponseExceededMaxSizeError) throw tooLarge(url);
      throw new HttpRequestError('network', `${url.origin}: ${(err as Error).message}`);
    } finally {
      deadline.removeEventListener('abort', stop);
      options.signal?.removeEventListener('abort', stop);
    }
  };
}
