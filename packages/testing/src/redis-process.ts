/**
 * A redis-server of a test's own, on a free loopback port, for tests that stop, kill or restart
 * Redis (the shared test Redis must stay up for every other suite). Data lives in a temporary
 * directory, with the append-only file on when asked, so a restart keeps what was stored.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface RedisProcessOptions {
  /** Keep data across restarts in an append-only file (fsync every write). */
  appendOnly?: boolean;
  /** Extra redis-server arguments, e.g. ['--requirepass', 'secret']. */
  args?: string[];
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.setTimeout(300, () => {
      s.destroy();
      resolve(false);
    });
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      s.destroy();
      resolve(/^(\+PONG|-NOAUTH)/.test(d.toString()));
    });
    s.on('error', () => resolve(false));
  });
}

export class RedisProcess {
  private child?: ChildProcess;

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly opts: RedisProcessOptions,
  ) {}

  static async start(opts: RedisProcessOptions = {}): Promise<RedisProcess> {
    const r = new RedisProcess(await freePort(), fs.mkdtempSync(path.join(os.tmpdir(), 'notary-redis-')), opts);
    await r.up();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts (again) on the same port and directory; resolves when it answers PING. */
  async up(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) return;
    const args = [
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '',
      '--appendonly', this.opts.appendOnly ? 'yes' : 'no', '--appendfsync', 'always',
      '--maxmemory-policy', 'noeviction', ...(this.opts.args ?? []),
    ];
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    this.child = child;
    for (let i = 0; i < 200; i++) {
      if (child.exitCode !== null) throw new Error(`redis-server on port ${this.port} exited at start (${child.exitCode})`);
      if (await answersPing(this.port)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`redis-server on port ${this.port} did not answer PING`);
  }

  /** Stops it (SIGTERM: it writes its append-only file first, as in a clean restart) or kills it. */
  async down(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  }

  async stop(): Promise<void> {
    await this.down('SIGKILL');
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
