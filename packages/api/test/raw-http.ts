/**
 * An HTTP/1.1 client that sends exactly the bytes it is given and reads every response the server
 * writes back: what tests of malformed, odd or pipelined requests need, which fetch() would refuse
 * to send or would tidy up first.
 */
import net from 'node:net';

export interface RawResponse {
  status: number;
  /** Header names in lower case; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
}

export interface ExchangeResult {
  /** Final responses in order (interim 1xx ones left out). */
  responses: RawResponse[];
  /** The server closed the connection (rather than the client, after the responses it waited for). */
  closedByServer: boolean;
}

export interface ExchangeOptions {
  /** Responses to wait for before closing; the exchange also ends when the server closes. */
  expect?: number;
  /** Close our sending side after the request (a client that stops mid-body). */
  halfClose?: boolean;
  /** Bodies are not sent in answer to HEAD: say which responses answer HEAD requests. */
  headRequests?: boolean[];
  /** The whole exchange must end within this (a server that hangs fails the test). */
  timeoutMs?: number;
}

/** Parses as many complete responses as `data` holds; returns them and the bytes consumed. */
function parseResponses(data: Buffer, head: (i: number) => boolean, closed: boolean, already: number): { responses: RawResponse[]; used: number } {
  const responses: RawResponse[] = [];
  let at = 0;
  for (;;) {
    const end = data.indexOf('\r\n\r\n', at);
    if (end < 0) break;
    const lines = data.subarray(at, end).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1] ?? 0);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    let bodyStart = end + 4;
    if (status >= 100 && status < 200) {
      at = bodyStart;
      continue;
    }
    let body: Buffer;
    if (head(already + responses.length) || status === 204 || status === 304) {
      body = Buffer.alloc(0);
    } else if (headers['transfer-encoding']?.toLowerCase().includes('chunked')) {
      const parts: Buffer[] = [];
      let p = bodyStart;
      let complete = false;
      for (;;) {
        const lineEnd = data.indexOf('\r\n', p);
        if (lineEnd < 0) break;
        const size = parseInt(data.subarray(p, lineEnd).toString('latin1'), 16);
        if (Number.isNaN(size)) throw new Error(`bad chunk size in a response: ${data.subarray(p, lineEnd).toString('latin1')}`);
        if (size === 0) {
          const trailerEnd = data.indexOf('\r\n\r\n', lineEnd);
          if (trailerEnd < 0) break;
          p = trailerEnd + 4;
          complete = true;
          break;
        }
        if (data.length < lineEnd + 2 + size + 2) break;
        parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
        p = lineEnd + 2 + size + 2;
      }
      if (!complete) break;
      body = Buffer.concat(parts);
      bodyStart = p;
      responses.push({ status, headers, body });
      at = bodyStart;
      continue;
    } else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (data.length < bodyStart + length) break;
      body = data.subarray(bodyStart, bodyStart + length);
      bodyStart += length;
    } else {
      // Neither length nor chunking: the body runs to the end of the connection.
      if (!closed) break;
      body = data.subarray(bodyStart);
      bodyStart = data.length;
    }
    responses.push({ status, headers, body });
    at = bodyStart;
  }
  return { responses, used: at };
}

/** Sends `request` to 127.0.0.1:`port` and collects the responses. */
export function exchange(port: number, request: Buffer | string, opts: ExchangeOptions = {}): Promise<ExchangeResult> {
  const expect = opts.expect ?? 1;
  const head = (i: number) => opts.headRequests?.[i] ?? false;
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    const responses: RawResponse[] = [];
    let settled = false;
    const finish = (closedByServer: boolean, err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve({ responses, closedByServer });
    };
    const timer = setTimeout(() => finish(false, new Error(`no complete answer within ${opts.timeoutMs ?? 10_000} ms (got ${responses.length} responses and ${data.length} more bytes)`)), opts.timeoutMs ?? 10_000);
    const take = (closed: boolean) => {
      try {
        const parsed = parseResponses(data, head, closed, responses.length);
        responses.push(...parsed.responses);
        data = data.subarray(parsed.used);
      } catch (err) {
        finish(closed, err as Error);
      }
    };
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      take(false);
      if (responses.length >= expect) finish(false);
    });
    // A server that answers early (413) and closes may reset a connection we are still writing on.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      take(true);
      if (!settled && data.length > 0) finish(true, new Error(`the server closed the connection in the middle of a response: ${JSON.stringify(data.toString('latin1').slice(0, 200))}`));
      finish(true);
    });
    socket.write(request);
    if (opts.halfClose) socket.end();
  });
}
