/**
 * Slow and idle connections (SECURITY.md, denial of service): a client that opens connections and
 * sends nothing, drips its headers or drips its body is answered 408 with a Matrix error and
 * closed, while other clients keep being answered. The api's timeouts are shortened here
 * (HTTP_TIMEOUTS holds the real ones) so the cut comes in about a second, not half a minute.
 */
import net from 'node:net';
import { getJson, useTestBed } from './notary-harness';

const { notary } = useTestBed();

interface SlowClient {
  /** Everything the server sent before closing. */
  closed: Promise<string>;
}

/** Opens a connection, sends `first`, then one byte of `drip` every 100 ms (at most `drip.length`). */
function slowClient(port: number, first: string, drip: string): SlowClient {
  const socket = net.connect(port, '127.0.0.1');
  let received = '';
  let sent = 0;
  let timer: NodeJS.Timeout | undefined;
  socket.on('connect', () => {
    if (first) socket.write(first);
    timer = setInterval(() => {
      if (sent >= drip.length || socket.destroyed) return clearInterval(timer);
      socket.write(drip[sent++]);
    }, 100);
  });
  socket.on('data', (chunk) => (received += chunk.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = new Promise<string>((resolve) =>
    socket.on('close', () => {
      clearInterval(timer);
      resolve(received);
    }),
  );
  return { closed };
}

test('idle, slow-header and slow-body connections are answered 408 and closed; others are still answered', async () => {
  const n = await notary({ httpTimeouts: { headersMs: 600, requestMs: 1200, keepAliveMs: 65_000, checkIntervalMs: 100 } });
  const port = n.apis[0].port;
  // Far more bytes to drip than the timeouts allow to arrive: only the server can end these.
  const endlessHeaders = Array.from({ length: 200 }, (_, i) => `x-h${i}: v\r\n`).join('');
  const clients: SlowClient[] = [];
  for (let i = 0; i < 10; i++) clients.push(slowClient(port, '', ''));
  for (let i = 0; i < 10; i++) clients.push(slowClient(port, 'GET /_matrix/key/v2/server HTTP/1.1\r\nHost: x\r\n', endlessHeaders));
  for (let i = 0; i < 10; i++) {
    const head = 'POST /_matrix/key/v2/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n';
    clients.push(slowClient(port, head, ' '.repeat(4000)));
  }

  // While they hang on, another client is answered.
  for (let i = 0; i < 5; i++) {
    const res = await getJson(n.url('/_matrix/key/v2/server'));
    expect(res.status).toBe(200);
  }

  const answers = await Promise.all(clients.map((c) => c.closed));
  for (const answer of answers) {
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer.toLowerCase()).toContain('connection: close');
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toEqual({ errcode: 'M_UNKNOWN', error: expect.any(String) });
  }
  const after = await getJson(n.url('/_matrix/key/v2/server'));
  expect(after.status).toBe(200);
});
