/**
 * The private redis-server of `npm start` never outlives its notary unnoticed: it dies with it
 * (setpriv --pdeathsig, even on SIGKILL), and where that is not available the next start finds it
 * through its state file and reuses it, so two servers never share one append-only file. Real
 * processes: a small host script stands in for the notary and is killed with SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { freeLoopbackPort, redisAnswers } from '@matrix-notary/common';
import { testRedisUrl } from '@matrix-notary/testing/redis';
import { startEmbeddedRedis, STATE_FILE } from '../src/embedded-redis';
import { assertBuilt } from './processes';

jest.setTimeout(60_000);

const DIST = path.resolve(__dirname, '..', 'dist', 'embedded-redis.js');

/** Starts the embedded Redis in `dataDir`, prints {url, reused}, stops it on SIGTERM. */
const HOST_SCRIPT = `
const { startEmbeddedRedis } = require(${JSON.stringify(DIST)});
startEmbeddedRedis(process.argv[1]).then((r) => {
  // The handler first: the test may send SIGTERM the instant it reads the line.
  process.on('SIGTERM', () => r.stop().then(() => process.exit(0)));
  process.stdout.write(JSON.stringify({ url: r.url, reused: r.reused }) + '\\n');
  setInterval(() => undefined, 60_000);
}, (err) => { process.stderr.write(err.message + '\\n'); process.exit(1); });
`;

let dir: string;
const hosts: ChildProcess[] = [];

function host(dataDir: string, pathEnv: string): { child: ChildProcess; started: Promise<{ url: string; reused: boolean }> } {
  const child = spawn(process.execPath, ['-e', HOST_SCRIPT, dataDir], { env: { PATH: pathEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  hosts.push(child);
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const started = new Promise<{ url: string; reused: boolean }>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(JSON.parse(out) as { url: string; reused: boolean });
    });
    child.once('exit', (code) => reject(new Error(`host exited (${code}): ${err}`)));
  });
  return { child, started };
}

/** True while `pid` is a live process (a zombie, exited but not reaped, is not). */
function isRunning(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8') !== '';
  } catch {
    return false;
  }
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

/** Polls (bounded) until the predicate holds; returns whether it did. */
async function eventually(check: () => Promise<boolean>, tries = 100): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

beforeAll(() => {
  assertBuilt();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'notary-embedded-'));
});

afterAll(async () => {
  await Promise.all(hosts.map(killed));
  // Whatever a failed test left running is stopped through the state files it wrote.
  for (const sub of fs.readdirSync(dir)) {
    try {
      const { pid } = JSON.parse(fs.readFileSync(path.join(dir, sub, STATE_FILE), 'utf8')) as { pid: number };
      process.kill(pid, 'SIGKILL');
    } catch {
      // no state file, or already gone
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the private redis-server dies with a notary killed by SIGKILL', async () => {
  const dataDir = path.join(dir, 'pdeathsig');
  const a = host(dataDir, process.env.PATH ?? '');
  const { url, reused } = await a.started;
  expect(reused).toBe(false);
  expect(await redisAnswers('127.0.0.1', portOf(url))).toBe(true);
  const { pid } = JSON.parse(fs.readFileSync(path.join(dataDir, STATE_FILE), 'utf8')) as { pid: number };
  await killed(a.child);
  expect(await eventually(async () => !isRunning(pid))).toBe(true);
});

test('without setpriv, the next start reuses the server a killed notary left, and stops it at the end', async () => {
  // A PATH with redis-server but no setpriv.
  const bin = path.join(dir, 'bin-without-setpriv');
  fs.mkdirSync(bin);
  const redisServer = ['/usr/bin', '/usr/local/bin', '/usr/sbin'].map((d) => path.join(d, 'redis-server')).find((f) => fs.existsSync(f));
  expect(redisServer).toBeDefined();
  fs.symlinkSync(redisServer as string, path.join(bin, 'redis-server'));

  const dataDir = path.join(dir, 'reuse');
  const first = host(dataDir, bin);
  const { url } = await first.started;
  await killed(first.child);
  expect(await redisAnswers('127.0.0.1', portOf(url))).toBe(true); // left running: nothing tied it to its parent

  const second = host(dataDir, bin);
  expect(await second.started).toEqual({ url, reused: true });
  const { pid } = JSON.parse(fs.readFileSync(path.join(dataDir, STATE_FILE), 'utf8')) as { pid: number };
  second.child.kill('SIGTERM');
  await new Promise((r) => second.child.once('exit', r));
  // The process itself, not its port: on a busy machine another test's server may take the port.
  expect(await eventually(async () => !isRunning(pid))).toBe(true);
  expect(fs.existsSync(path.join(dataDir, STATE_FILE))).toBe(false);
});

test('a port taken between finding it free and redis-server binding it: by a Redis or by anything else, the next port is tried', async () => {
  // Taken by another Redis (which would answer a PING in the private one's place), then by a
  // listener that is not Redis at all; the third port is free.
  // It reads and drops what it is sent (so it sees a client hang up) and never answers.
  const squatter = net.createServer((socket) => socket.on('error', () => undefined).resume());
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  const ports = [Number(new URL(testRedisUrl()).port), (squatter.address() as net.AddressInfo).port];
  let asked = 0;
  const choosePort = async () => ports[asked++] ?? freeLoopbackPort();
  try {
    const redis = await startEmbeddedRedis(path.join(dir, 'taken-ports'), choosePort);
    try {
      expect(asked).toBe(3);
      expect(ports).not.toContain(portOf(redis.url));
      const { pid } = JSON.parse(fs.readFileSync(path.join(dir, 'taken-ports', STATE_FILE), 'utf8')) as { pid: number };
      expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('redis-server');
      expect(await redisAnswers('127.0.0.1', portOf(redis.url))).toBe(true);
    } finally {
      await redis.stop();
    }
  } finally {
    await new Promise((resolve) => squatter.close(resolve));
  }
});
