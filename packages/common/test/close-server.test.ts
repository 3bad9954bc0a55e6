import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeServer } from '../src';

/**
 * Nothing here is timed: where closeServer must not wait for something, that something lasts ten
 * minutes, far past the test's own timeout, so a closeServer that waited for it fails the test.
 */
const TEN_MINUTES_MS = 10 * 60 * 1000;

/** A server whose handler calls `onRequest`; resolves once it listens. */
async function listening(onRequest: (res: http.ServerResponse) => void, opts: http.ServerOptions = {}): Promise<http.Server> {
  const server = http.createServer(opts, (_req, res) => onRequest(res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return server;
}

test('closeServer does not wait for a keep-alive connection that finishes its request while draining', async () => {
  let release!: () => void;
  let arrived!: () => void;
  const inProgress = new Promise<void>((r) => (arrived = r));
  const server = await listening(
    (res) => {
      release = () => res.end('ok');
      arrived();
    },
    { keepAliveTimeout: TEN_MINUTES_MS },
  );
  const agent = new http.Agent({ keepAlive: true });
  const answered = new Promise<number>((resolve) => {
    http.get({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
  });
  await inProgress;
  const closing = closeServer(server, TEN_MINUTES_MS);
  release();
  expect(await answered).toBe(200);
  // Neither the keep-alive timeout nor the drain period is waited for: the connection is closed
  // as soon as its request is done.
  await closing;
  expect(server.listening).toBe(false);
  agent.destroy();
});

test('closeServer closes a connection whose request outlives the drain period', async () => {
  let arrived!: () => void;
  const inProgress = new Promise<void>((r) => (arrived = r));
  const server = await listening(() => arrived()); // never answers
  const failed = new Promise<boolean>((resolve) => {
    http.get({ host: '127.0.0.1', port: (server.address() as AddressInfo).port }).on('error', () => resolve(true));
  });
  await inProgress;
  await closeServer(server, 300);
  expect(await failed).toBe(true);
  expect(server.listening).toBe(false);
});
