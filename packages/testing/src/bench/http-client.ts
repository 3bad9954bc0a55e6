/** Single HTTP exchanges of the bench (warming, checking answers, measuring a response's size). */
import http from 'node:http';
import net from 'node:net';

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

const TIMEOUT_MS = 30_000;

export function request(port: number, method: 'GET' | 'POST', urlPath: string, body?: string | Buffer, agent: http.Agent | false = false): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: urlPath,
        agent,
        timeout: TIMEOUT_MS,
        headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath} got no answer within ${TIMEOUT_MS / 1000} s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * The exact number of bytes of one response on the wire, status line and headers included (what
 * a load generator reads per request), from a raw keep-alive exchange.
 */
export function responseWireBytes(port: number, method: 'GET' | 'POST', urlPath: string, body?: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const head = [`${method} ${urlPath} HTTP/1.1`, `Host: 127.0.0.1:${port}`];
    if (body !== undefined) head.push('Content-Type: application/json', `Content-Length: ${body.length}`);
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(new Error(`${method} ${urlPath}: no whole response within ${TIMEOUT_MS / 1000} s`)), TIMEOUT_MS);
    socket.on('connect', () => socket.write(Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`), body ?? Buffer.alloc(0)])));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(received.subarray(0, end).toString('latin1'));
      if (!length) {
        socket.destroy(new Error(`${method} ${urlPath}: the response has no Content-Length`));
        return;
      }
      const total = end + 4 + Number(length[1]);
      if (received.length >= total) {
        clearTimeout(timer);
        socket.destroy();
        resolve(total);
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
