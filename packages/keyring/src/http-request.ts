/**
 * One bounded HTTP(S) request to a notary: a deadline for the whole exchange and a cap on the body,
 * so a slow or hostile notary cannot stall or exhaust the caller. node:http(s) rather than fetch
 * because it takes extra CA certificates per request (tests, private notaries).
 */
import http from 'node:http';
import https from 'node:https';

export interface HttpRequestOptions {
  method: 'GET' | 'POST';
  body?: Buffer;
  headers?: Record<string, string>;
  timeoutMs: number;
  maxResponseBytes: number;
  /** Extra trusted CA certificates (PEM) for https URLs. */
  ca?: string;
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

export const httpRequest: HttpRequestFn = (url, options) =>
  new Promise<HttpResponse>((resolve, reject) => {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      reject(new HttpRequestError('bad_url', `${url.href} is not an http(s) URL`));
      return;
    }
    if (options.signal?.aborted) {
      reject(new HttpRequestError('aborted', 'the request was aborted'));
      return;
    }
    let settled = false;
    const finish = (err: HttpRequestError | null, value?: HttpResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (err) {
        req.destroy();
        reject(err);
      } else {
        resolve(value as HttpResponse);
      }
    };
    const onAbort = (): void => finish(new HttpRequestError('aborted', 'the request was aborted'));
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (options.body) headers['content-length'] = String(options.body.length);
    const lib = url.protocol === 'https:' ? https : http;
    const req = lib.request(url, {
      method: options.method,
      headers,
      ...(url.protocol === 'https:' && options.ca ? { ca: options.ca } : {}),
    });
    const timer = setTimeout(
      () => finish(new HttpRequestError('timeout', `no complete answer from ${url.origin} within ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
    options.signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (err) => finish(new HttpRequestError('network', `${url.origin}: ${err.message}`)));
    req.on('response', (res) => {
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > options.maxResponseBytes) {
        finish(new HttpRequestError('too_large', `the answer from ${url.origin} is over ${options.maxResponseBytes} bytes`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > options.maxResponseBytes) {
          finish(new HttpRequestError('too_large', `the answer from ${url.origin} is over ${options.maxResponseBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', (err) => finish(new HttpRequestError('network', `${url.origin}: ${err.message}`)));
      res.on('end', () => finish(null, { statusCode: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      // A connection cut mid-body ends in 'close' without 'end'; finish() ignores it after 'end'.
      res.on('close', () => finish(new HttpRequestError('network', `${url.origin} closed the connection mid-answer`)));
    });
    req.end(options.body);
  });
