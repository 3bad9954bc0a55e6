/**
 * Real Redis deployments on loopback for tests: a redis-server (optionally TLS, password, AOF),
 * a Sentinel group (a master, a replica, Sentinels), and a Redis Cluster of masters. Each runs as
 * child processes on free ports with its files in a temp directory, and `stop()` ends every
 * process and removes the directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { freeLoopbackPort } from '@matrix-notary/common';
import type { TestCa } from './tls';
import { setTimeout as sleep } from 'node:timers/promises';

const START_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5000;
const POLL_MS = 50;

/** TLS material written for redis-server: a certificate for 127.0.0.1 from the test CA. */
export interface RedisTlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
  caPem: string;
}

export async function writeRedisTlsFiles(ca: TestCa, dir: string): Promise<RedisTlsFiles> {
  fs.mkdirSync(dir, { recursive: true });
  // Also a client certificate: cluster nodes and replicas present it to each other.
  const cert = await ca.issue({ ips: ['127.0.0.1'], dns: ['localhost'], clientAuth: true });
  const files = { caFile: path.join(dir, 'ca.pem'), certFile: path.join(dir, 'redis.crt'), keyFile: path.join(dir, 'redis.key'), caPem: ca.caPem };
  fs.writeFileSync(files.caFile, ca.caPem);
  fs.writeFileSync(files.certFile, cert.certPem);
  fs.writeFileSync(files.keyFile, cert.keyPem, { mode: 0o600 });
  return files;
}

/** redis.conf lines that turn on TLS (and only TLS) on `port`. */
function tlsConfig(tls: RedisTlsFiles, port: number): string[] {
  return [
    'port 0',
    `tls-port ${port}`,
    `tls-cert-file ${tls.certFile}`,
    `tls-key-file ${tls.keyFile}`,
    `tls-ca-cert-file ${tls.caFile}`,
    // Clients authenticate with the password, not with certificates.
    'tls-auth-clients no',
    'tls-replication yes',
  ];
}

export interface RedisServerOptions {
  /** Where its files go; a fresh temp directory by default (removed by stop()). */
  dir?: string;
  password?: string;
  tls?: RedisTlsFiles;
  appendOnly?: boolean;
  /** Start as a replica of this server. */
  replicaOf?: RedisServer;
  /** Cluster mode, with its bus on this port. */
  clusterBusPort?: number;
  /** Start as a Sentinel (the config lines come in `extraConfig`; `password` is its own requirepass). */
  sentinel?: boolean;
  extraConfig?: string[];
  port?: number;
}

/** One redis-server (or Sentinel) child process. */
export class RedisServer {
  private child?: ChildProcess;
  private log = '';
  private readonly ownsDir: boolean;
  readonly dir: string;

  private constructor(
    readonly port: number,
    private readonly opts: RedisServerOptions,
  ) {
    this.ownsDir = opts.dir === undefined;
    this.dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'notary-redis-'));
  }

  static async start(opts: RedisServerOptions = {}): Promise<RedisServer> {
    const server = new RedisServer(opts.port ?? (await freeLoopbackPort()), opts);
    try {
      await server.launch();
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  get host(): string {
    return '127.0.0.1';
  }

  /** redis:// or rediss:// URL, without the password. */
  get url(): string {
    return `${this.opts.tls ? 'rediss' : 'redis'}://127.0.0.1:${this.port}`;
  }

  /** The URL with the password, for REDIS_URL. */
  get urlWithPassword(): string {
    return this.opts.password ? this.url.replace('://', `://:${encodeURIComponent(this.opts.password)}@`) : this.url;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** A plain admin connection (no retries), closed by the caller. */
  admin(): Redis {
    return new Redis({
      host: '127.0.0.1',
      port: this.port,
      password: this.opts.password,
      tls: this.opts.tls ? { ca: this.opts.tls.caPem } : undefined,
      maxRetriesPerRequest: 1,
      retryStrategy: () => null,
      lazyConnect: false,
    });
  }

  private configLines(): string[] {
    const o = this.opts;
    const lines = [
      'bind 127.0.0.1',
      ...(o.tls ? tlsConfig(o.tls, this.port) : [`port ${this.port}`]),
      `dir ${this.dir}`,
      'daemonize no',
      'save ""',
      'logfile ""',
    ];
    if (o.sentinel && o.password) lines.push(`requirepass ${o.password}`);
    if (!o.sentinel) {
      lines.push(`appendonly ${o.appendOnly ? 'yes' : 'no'}`, 'maxmemory-policy noeviction', 'appendfsync everysec');
      if (o.password) lines.push(`requirepass ${o.password}`, `masterauth ${o.password}`);
      if (o.replicaOf) lines.push(`replicaof 127.0.0.1 ${o.replicaOf.port}`, 'replica-announce-ip 127.0.0.1');
      if (o.clusterBusPort !== undefined) {
        lines.push('cluster-enabled yes', 'cluster-config-file nodes.conf', 'cluster-node-timeout 2000', `cluster-port ${o.clusterBusPort}`);
        if (o.tls) lines.push('tls-cluster yes');
      }
    }
    lines.push(...(o.extraConfig ?? []));
    return lines;
  }

  private async launch(): Promise<void> {
    const conf = path.join(this.dir, this.opts.sentinel ? 'sentinel.conf' : 'redis.conf');
    // A Sentinel rewrites its config file; a restart keeps what it learnt.
    if (!this.opts.sentinel || !fs.existsSync(conf)) fs.writeFileSync(conf, this.configLines().join('\n') + '\n');
    const args = this.opts.sentinel ? [conf, '--sentinel'] : [conf];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.log = '';
    const keep = (d: Buffer) => (this.log = (this.log + d.toString()).slice(-8000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const spawnError = new Promise<never>((_, reject) =>
      child.once('error', (err) => reject(new Error(`redis-server could not be started (${err.message}): install it (apt-get install redis-server)`))),
    );
    await Promise.race([this.waitUntilAnswering(), spawnError]);
  }

  private async waitUntilAnswering(): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`redis-server on port ${this.port} exited at start:\n${this.log}`);
      const admin = this.admin();
      admin.on('error', () => undefined);
      try {
        if ((await admin.ping()) === 'PONG') return;
      } catch {
        // not yet
      } finally {
        admin.disconnect();
      }
      await sleep(POLL_MS);
    }
    throw new Error(`redis-server on port ${this.port} did not answer within ${START_TIMEOUT_MS} ms:\n${this.log}`);
  }

  /** What it logged lately (for failure messages). */
  output(): string {
    return this.log;
  }

  /** Ends the process (SIGKILL when `hard`), keeping its files for a restart. */
  async halt(hard = false): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(hard ? 'SIGKILL' : 'SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await gone;
    clearTimeout(timer);
  }

  /** Starts it again on the same port with the same files (AOF, nodes.conf, sentinel.conf), after `downMs`. */
  async restart(downMs = 0): Promise<void> {
    await this.halt();
    if (downMs > 0) await sleep(downMs);
    await this.launch();
  }

  async stop(): Promise<void> {
    await this.halt();
    if (this.ownsDir) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface SentinelGroupOptions {
  password?: string;
  /** Sentinels demand the password too (requirepass on them). */
  sentinelPassword?: boolean;
  tls?: RedisTlsFiles;
  sentinels?: number;
  masterName?: string;
  appendOnly?: boolean;
  /**
   * Wait until every Sentinel knows the replica and the others, as a failover needs (a few
   * seconds of Sentinel gossip); without it, the group is ready once the Sentinels answer.
   */
  readyForFailover?: boolean;
}

/** A master, one replica and Sentinels watching them (quorum 2 of 3 by default). */
export class SentinelGroup {
  private constructor(
    readonly master: RedisServer,
    readonly replica: RedisServer,
    readonly sentinels: RedisServer[],
    readonly masterName: string,
  ) {}

  static async start(opts: SentinelGroupOptions = {}): Promise<SentinelGroup> {
    const masterName = opts.masterName ?? 'mymaster';
    const started: RedisServer[] = [];
    try {
      const master = await RedisServer.start({ password: opts.password, tls: opts.tls, appendOnly: opts.appendOnly });
      started.push(master);
      const replica = await RedisServer.start({ password: opts.password, tls: opts.tls, appendOnly: opts.appendOnly, replicaOf: master });
      started.push(replica);
      await waitFor(async () => (await info(replica, 'replication')).includes('master_link_status:up'), 'the replica to sync');
      const count = opts.sentinels ?? 3;
      const sentinels: RedisServer[] = [];
      for (let i = 0; i < count; i++) {
        const extraConfig = [
          'sentinel resolve-hostnames no',
          'sentinel announce-ip 127.0.0.1',
          `sentinel monitor ${masterName} 127.0.0.1 ${master.port} ${Math.floor(count / 2) + 1}`,
          `sentinel down-after-milliseconds ${masterName} 1000`,
          `sentinel failover-timeout ${masterName} 10000`,
          `sentinel parallel-syncs ${masterName} 1`,
        ];
        if (opts.password) extraConfig.push(`sentinel auth-pass ${masterName} ${opts.password}`);
        const sentinel = await RedisServer.start({ sentinel: true, tls: opts.tls, extraConfig, password: opts.sentinelPassword ? opts.password : undefined });
        started.push(sentinel);
        sentinels.push(sentinel);
      }
      const group = new SentinelGroup(master, replica, sentinels, masterName);
      // Every Sentinel knows the replica and the other Sentinels before a failover is asked for.
      if (opts.readyForFailover === false) return group;
      await waitFor(async () => {
        for (const s of sentinels) {
          const fields = toMap((await group.sentinelCommand(s, ['MASTER', masterName])) as string[]);
          if (Number(fields['num-slaves']) < 1 || Number(fields['num-other-sentinels']) < count - 1) return false;
        }
        return true;
      }, 'the Sentinels to find the replica and each other');
      return group;
    } catch (err) {
      await Promise.all(started.map((s) => s.stop()));
      throw err;
    }
  }

  get sentinelList(): string {
    return this.sentinels.map((s) => `127.0.0.1:${s.port}`).join(',');
  }

  private async sentinelCommand(sentinel: RedisServer, args: string[]): Promise<unknown> {
    const admin = sentinel.admin();
    admin.on('error', () => undefined);
    try {
      return await admin.call('SENTINEL', ...args);
    } finally {
      admin.disconnect();
    }
  }

  /** The port of the master as the first Sentinel that answers sees it. */
  async masterPort(): Promise<number> {
    for (const s of this.sentinels) {
      try {
        const addr = (await this.sentinelCommand(s, ['GET-MASTER-ADDR-BY-NAME', this.masterName])) as string[];
        return Number(addr[1]);
      } catch {
        // try the next
      }
    }
    throw new Error('no Sentinel answered');
  }

  /** SENTINEL FAILOVER, then waits until the Sentinels name the other server master. Returns the new master's port. */
  async failover(): Promise<number> {
    const before = await this.masterPort();
    await this.sentinelCommand(this.sentinels[0], ['FAILOVER', this.masterName]);
    let after = before;
    await waitFor(async () => (after = await this.masterPort()) !== before, 'the Sentinels to name a new master', 30_000);
    return after;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.sentinels, this.replica, this.master].map((s) => s.stop()));
  }
}

export interface RedisClusterOptions {
  masters?: number;
  password?: string;
  tls?: RedisTlsFiles;
  appendOnly?: boolean;
}

/** A Redis Cluster of masters only, the slots split evenly, each node with its own bus port. */
export class RedisClusterNodes {
  private constructor(readonly nodes: RedisServer[]) {}

  static async start(opts: RedisClusterOptions = {}): Promise<RedisClusterNodes> {
    const count = opts.masters ?? 3;
    const nodes: RedisServer[] = [];
    try {
      for (let i = 0; i < count; i++) {
        nodes.push(await RedisServer.start({ password: opts.password, tls: opts.tls, appendOnly: opts.appendOnly, clusterBusPort: await freeLoopbackPort() }));
      }
      const buses = nodes.map((n) => Number(/cluster-port (\d+)/.exec(fs.readFileSync(path.join(n.dir, 'redis.conf'), 'utf8'))![1]));
      const slots = 16384;
      for (let i = 0; i < count; i++) {
        const admin = nodes[i].admin();
        try {
          await admin.call('CLUSTER', 'ADDSLOTSRANGE', String(Math.floor((i * slots) / count)), String(Math.floor(((i + 1) * slots) / count) - 1));
          if (i > 0) await admin.call('CLUSTER', 'MEET', '127.0.0.1', String(nodes[0].port), String(buses[0]));
        } finally {
          admin.disconnect();
        }
      }
      await waitFor(async () => {
        for (const n of nodes) {
          const text = await clusterInfo(n);
          if (!text.includes('cluster_state:ok') || !text.includes(`cluster_known_nodes:${count}`)) return false;
        }
        return true;
      }, 'the cluster to form');
      return new RedisClusterNodes(nodes);
    } catch (err) {
      await Promise.all(nodes.map((n) => n.stop()));
      throw err;
    }
  }

  get nodeList(): string {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  }

  /** Number of keys on each node, in node order. */
  async keysPerNode(): Promise<number[]> {
    return Promise.all(
      this.nodes.map(async (n) => {
        const admin = n.admin();
        try {
          return await admin.dbsize();
        } finally {
          admin.disconnect();
        }
      }),
    );
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }
}

async function clusterInfo(server: RedisServer): Promise<string> {
  const admin = server.admin();
  admin.on('error', () => undefined);
  try {
    return String(await admin.call('CLUSTER', 'INFO'));
  } finally {
    admin.disconnect();
  }
}

async function info(server: RedisServer, section: string): Promise<string> {
  const admin = server.admin();
  admin.on('error', () => undefined);
  try {
    return await admin.info(section);
  } finally {
    admin.disconnect();
  }
}

function toMap(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]] = flat[i + 1];
  return out;
}

/** Polls `check` until it says true, bounded by `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = START_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    await sleep(POLL_MS * 2);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
}
