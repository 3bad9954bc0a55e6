/**
 * For `npm start` on a bare machine: when no REDIS_URL was set and nothing answers at the default
 * address, run a private redis-server child on a free loopback port, its data under ./data/redis.
 *
 * Two runs must never share that directory's append-only file, so the child is tied to its
 * parent twice over: it is started under `setpriv --pdeathsig` where util-linux has it (the kernel
 * then stops it when the notary dies, even by SIGKILL), and its pid and port are kept in a state
 * file, so a later start that finds it still running (no setpriv, or the parent was a process
 * that is now gone) reuses it instead of starting a second one on the same files.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freeLoopbackPort, redisAnswers } from '@matrix-notary/common';

export interface EmbeddedRedis {
  url: string;
  /** True when a redis-server left running by an earlier start was taken over. */
  reused: boolean;
  stop(): Promise<void>;
}

function findOnPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir !== '' && fs.existsSync(path.join(dir, command))) return path.join(dir, command);
  }
  return undefined;
}

export class EmbeddedRedisUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmbeddedRedisUnavailable';
  }
}

/** The state file: which redis-server serves this data directory. */
export const STATE_FILE = 'embedded-redis.json';

interface State {
  pid: number;
  port: number;
}

function readState(dataDir: string): State | undefined {
  try {
    const state = JSON.parse(fs.readFileSync(path.join(dataDir, STATE_FILE), 'utf8')) as State;
    return Number.isSafeInteger(state.pid) && Number.isSafeInteger(state.port) ? state : undefined;
  } catch {
    return undefined;
  }
}

function isRedisProcess(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // Pids are reused: make sure it is a redis-server, not whatever got the number since.
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('redis-server');
  } catch {
    return true; // no /proc (not Linux): the PING on its port below still has to answer
  }
}

async function waitUntilGone(pid: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (!isRedisProcess(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !isRedisProcess(pid);
}

async function stopPid(pid: number): Promise<void> {
  if (!isRedisProcess(pid)) return;
  process.kill(pid, 'SIGTERM'); // redis-server flushes its append-only file on SIGTERM
  if (!(await waitUntilGone(pid, 5000))) process.kill(pid, 'SIGKILL');
}

export async function startEmbeddedRedis(dataDir: string): Promise<EmbeddedRedis> {
  fs.mkdirSync(dataDir, { recursive: true });
  const stateFile = path.join(dataDir, STATE_FILE);
  const clearState = () => fs.rmSync(stateFile, { force: true });

  const previous = readState(dataDir);
  if (previous && isRedisProcess(previous.pid) && (await redisAnswers('127.0.0.1', previous.port, 500))) {
    return {
      url: `redis://127.0.0.1:${previous.port}`,
      reused: true,
      async stop() {
        await stopPid(previous.pid);
        clearState();
      },
    };
  }

  const redisServer = findOnPath('redis-server');
  if (redisServer === undefined) {
    throw new EmbeddedRedisUnavailable(
      'no Redis answers at redis://127.0.0.1:6379 and redis-server is not installed: install it (e.g. `apt-get install redis-server`) or set REDIS_URL to a running Redis',
    );
  }
  const port = await freeLoopbackPort();
  const redisArgs = [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', path.resolve(dataDir),
    '--appendonly', 'yes', '--save', '', '--maxmemory-policy', 'noeviction', '--daemonize', 'no',
    '--logfile', 'redis.log',
  ];
  const setpriv = findOnPath('setpriv');
  const child: ChildProcess = setpriv
    ? spawn(setpriv, ['--pdeathsig', 'SIGTERM', '--', redisServer, ...redisArgs], { stdio: 'ignore' })
    : spawn(redisServer, redisArgs, { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!(await redisAnswers('127.0.0.1', port, 300))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new EmbeddedRedisUnavailable(`the private redis-server did not start; see ${path.join(dataDir, 'redis.log')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  // setpriv execs redis-server, so the child's pid is redis-server's.
  fs.writeFileSync(stateFile, JSON.stringify({ pid: child.pid as number, port } satisfies State) + '\n');
  return {
    url: `redis://127.0.0.1:${port}`,
    reused: false,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      clearState();
    },
  };
}
