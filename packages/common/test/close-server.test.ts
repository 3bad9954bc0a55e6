import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeServer } from '../src';

test('closeServer does not wait for a keep-alive connection that finishes its request while draining', async () => {
  let release!: () => void;
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (_req, res) => {
    release = () => res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const agent = new http.Agent({ keepAlive: true });
  const answered = new Promise<number>((resolve) => {
    http.get({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
  });
  await new Promise((r) => setTimeout(r, 100)); // the request is in progress
  const started = Date.now();
  const closing = closeServer(server, 10_000);
  release();
  expect(await answered).toBe(200);
  await closing;
  expect(Date.now() - started).toBeLessThan(3000); // not the 60 s keep-alive, nor the 10 s drain
  agent.destroy();
});

test('closeServer closes a connection whose request outlives the drain period', async () => {
  const server = http.createServer(() => undefined); // never answers
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const failed = new Promise<boolean>((resolve) => {
    http.get({ host: '127.0.0.1', port: (server.address() as AddressInfo).port }).on('error', () => resolve(true));
  });
  await new Promise((r) => setTimeout(r, 100));
  const started = Date.now();
  await closeServer(server, 300);
  expect(Date.now() - started).toBeLessThan(3000);
  expect(await failed).toBe(true);
});
