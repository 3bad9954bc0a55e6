/**
 * For `npm start` on a bare machine: when no REDIS_URL was set and nothing answers at the default
 * address, run a private redis-server child on a free loopback port, its data under ./data/redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export interface EmbeddedRedis {
  url: string;
  stop(): Promise<void>;
}

/** True when something at host:port answers a Redis PING within timeoutMs. */
export function redisAnswers(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d) => done(d.toString().startsWith('+PONG') || d.toString().startsWith('-NOAUTH')));
  });
}

export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .some((dir) => dir !== '' && fs.existsSync(path.join(dir, command)));
}

export class EmbeddedRedisUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmbeddedRedisUnavailable';
  }
}

export async function startEmbeddedRedis(dataDir: string): Promise<EmbeddedRedis> {
  if (!onPath('redis-server')) {
    throw new EmbeddedRedisUnavailable(
      'no Redis answers at redis://127.0.0.1:6379 and redis-server is not installed: install it (e.g. `apt-get install redis-server`) or set REDIS_URL to a running Redis',
    );
  }
  fs.mkdirSync(dataDir, { recursive: true });
  const port = await freeLoopbackPort();
  const child: ChildProcess = spawn(
    'redis-server',
    [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', path.resolve(dataDir),
      '--appendonly', 'yes', '--save', '', '--maxmemory-policy', 'noeviction', '--daemonize', 'no',
      '--logfile', 'redis.log',
    ],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!(await redisAnswers('127.0.0.1', port, 300))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new EmbeddedRedisUnavailable(`the private redis-server did not start; see ${path.join(dataDir, 'redis.log')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
