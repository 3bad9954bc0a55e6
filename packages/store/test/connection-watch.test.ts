/** ConnectionWatch with a stand-in connection (its events and status) and jest's fake clock. */
import { EventEmitter } from 'node:events';
import { ConnectionWatch } from '@matrix-notary/store';

class FakeConnection extends EventEmitter {
  status = 'ready';
  drop(): void {
    this.status = 'reconnecting';
    this.emit('close');
  }
  back(): void {
    this.status = 'ready';
    this.emit('ready');
  }
}

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

function watch(conn: FakeConnection): ConnectionWatch {
  return new ConnectionWatch(conn as never, 1000, () => Date.now());
}

test('a connection that is up is usable at once', async () => {
  await expect(watch(new FakeConnection()).usable()).resolves.toBe(true);
});

test('one that just went down is waited for: back within the grace, it is usable', async () => {
  const conn = new FakeConnection();
  const w = watch(conn);
  conn.drop();
  const verdict = w.usable();
  jest.advanceTimersByTime(400);
  conn.back();
  await expect(verdict).resolves.toBe(true);
});

test('still down when the grace ends: not usable; and no query waits at all once the grace has passed', async () => {
  const conn = new FakeConnection();
  const w = watch(conn);
  conn.drop();
  const first = w.usable();
  jest.advanceTimersByTime(1000);
  await expect(first).resolves.toBe(false);
  // A later query does not wait: the outage is known.
  let settled = false;
  const later = w.usable().then((v) => ((settled = true), v));
  await Promise.resolve();
  await Promise.resolve();
  expect(settled).toBe(true);
  await expect(later).resolves.toBe(false);
  conn.back();
  await expect(w.usable()).resolves.toBe(true);
});

test('the grace counts from when the connection went down, not from each query', async () => {
  const conn = new FakeConnection();
  const w = watch(conn);
  conn.drop();
  jest.advanceTimersByTime(900);
  const verdict = w.usable();
  jest.advanceTimersByTime(100);
  await expect(verdict).resolves.toBe(false);
});
