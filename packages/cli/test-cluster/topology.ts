/**
 * The notary as operators run it, on loopback: one signer, three api pods and two workers as
 * `matrix-notary signer|api|worker` child processes, behind HAProxy running deploy/haproxy's
 * example (TLS from the test CA), on whatever Redis the scenario gives. Every process is
 * tracked, can be killed and restarted, and is ended by `stop()`, or on exit if a test dies.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestCa, FakeOrigin, type TestCa } from '@matrix-notary/testing';
import { freeLoopbackPort } from '@matrix-notary/common';
import { CLI, runCli } from '../test/processes';

export const NOTARY_NAME = 'notary.cluster.test';
const TOKEN = 'cluster-suite-signer-token-0123456789abcdef';
const REPO = path.resolve(__dirname, '..', '..', '..');
export const HAPROXY_CONFIG = path.join(REPO, 'deploy', 'haproxy', 'haproxy.cfg');
const OUTPUT_TAIL_BYTES = 64 * 1024;
const START_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 8000;

/** Children still alive when the test process exits are killed (a timed-out test, a crash). */
const living = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of living) child.kill('SIGKILL');
});

/** A child process restartable with the same command, whose output is kept (tail) and checked. */
export class Proc {
  child?: ChildProcess;
  private tail = '';
  private partial = '';
  /** Lines that look like a stack trace or another non-JSON line, over the whole life of the process. */
  readonly strayLines: string[] = [];
  restarts = 0;

  constructor(
    readonly name: string,
    private readonly command: string,
    private readonly args: string[],
    private readonly env: Record<string, string>,
    /** Non-JSON lines this process may print (HAProxy's own log format, the CLI's last line). */
    private readonly allowedStray: RegExp = /^matrix-notary \w+: /,
  ) {}

  start(): void {
    const child = spawn(this.command, this.args, { env: { PATH: process.env.PATH ?? '', ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    living.add(child);
    child.once('exit', () => living.delete(child));
    const onData = (d: Buffer) => {
      const text = d.toString();
      this.tail = (this.tail + text).slice(-OUTPUT_TAIL_BYTES);
      const lines = (this.partial + text).split('\n');
      this.partial = lines.pop() ?? '';
      for (const line of lines) this.checkLine(line);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
  }

  private checkLine(line: string): void {
    if (line.trim() === '' || this.allowedStray.test(line)) return;
    try {
      JSON.parse(line);
    } catch {
      if (this.strayLines.length < 20) this.strayLines.push(line);
    }
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  output(): string {
    return this.tail;
  }

  /** Ends the process: SIGTERM (SIGKILL after a grace period), or SIGKILL at once. */
  async halt(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<number | null> {
    const child = this.child;
    if (!child || !this.running) return child?.exitCode ?? null;
    const gone = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    const code = await gone;
    clearTimeout(timer);
    return code;
  }

  async restart(): Promise<void> {
    await this.halt();
    this.restarts++;
    this.start();
  }
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

/** Waits until `url` answers 200, or fails with the process's output when it dies or is too slow. */
export async function waitReady(proc: Proc, url: string, timeoutMs = START_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!proc.running) throw new Error(`${proc.name} exited (${proc.child?.exitCode}) before ${url} answered:\n${proc.output()}`);
    if (await httpOk(url)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${proc.name}: ${url} did not answer within ${timeoutMs} ms:\n${proc.output()}`);
}

export interface Pod {
  proc: Proc;
  port: number;
  metricsPort: number;
}

export interface TopologyOptions {
  /** REDIS_URL / REDIS_SENTINELS / REDIS_CLUSTER_NODES ... for every role. */
  redisEnv: Record<string, string>;
  /** The Redis password, handed to every role in a file (REDIS_PASSWORD_FILE). */
  redisPassword?: string;
  apiPods?: number;
  workers?: number;
  /** Extra variables for every role. */
  env?: Record<string, string>;
}

/** The whole notary: signer, api pods, workers and the balancer, with its test CA and temp dir. */
export class NotaryCluster {
  readonly dir: string;
  signer!: Pod;
  readonly apis: Pod[] = [];
  readonly workers: Pod[] = [];
  balancer!: Proc;
  balancerPort = 0;
  statsPort = 0;
  keyFile = '';
  private readonly origins: FakeOrigin[] = [];

  private constructor(
    readonly ca: TestCa,
    private readonly opts: TopologyOptions,
  ) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'notary-cluster-suite-'));
  }

  static async start(opts: TopologyOptions, ca?: TestCa): Promise<NotaryCluster> {
    const cluster = new NotaryCluster(ca ?? (await createTestCa()), opts);
    try {
      await cluster.launch();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  get caFile(): string {
    return path.join(this.dir, 'ca.pem');
  }

  /** Every process, for checks over all of them. */
  get procs(): Proc[] {
    return [this.signer?.proc, ...this.apis.map((p) => p.proc), ...this.workers.map((p) => p.proc), this.balancer].filter((p): p is Proc => p !== undefined);
  }

  private roleEnv(): Record<string, string> {
    return {
      NOTARY_SERVER_NAME: NOTARY_NAME,
      NOTARY_SIGNER_TOKEN_FILE: path.join(this.dir, 'signer-token'),
      NOTARY_SIGNER_URL: `http://127.0.0.1:${this.signer.port}`,
      NOTARY_BIND: '127.0.0.1',
      NOTARY_METRICS_BIND: '127.0.0.1',
      NOTARY_ALLOWED_ADDRESSES: '127.0.0.1/32',
      NOTARY_FEDERATION_CA_FILE: this.caFile,
      // Pods believe HAProxy's X-Forwarded-For; the load generator is not rate-limited.
      NOTARY_TRUSTED_PROXIES: '127.0.0.1/32',
      NOTARY_UNLIMITED_CLIENTS: '127.0.0.0/8',
      NOTARY_LOG_LEVEL: 'info',
      NODE_EXTRA_CA_CERTS: this.caFile,
      ...(this.opts.redisPassword === undefined ? {} : { REDIS_PASSWORD_FILE: path.join(this.dir, 'redis-password') }),
      ...this.opts.redisEnv,
      ...this.opts.env,
    };
  }

  private async launch(): Promise<void> {
    fs.writeFileSync(this.caFile, this.ca.caPem);
    fs.writeFileSync(path.join(this.dir, 'signer-token'), `${TOKEN}\n`, { mode: 0o600 });
    if (this.opts.redisPassword !== undefined) fs.writeFileSync(path.join(this.dir, 'redis-password'), `${this.opts.redisPassword}\n`, { mode: 0o600 });
    this.keyFile = path.join(this.dir, 'signing.key');
    const gen = await runCli(['generate-key', '--out', this.keyFile], {});
    if (gen.code !== 0) throw new Error(`generate-key failed: ${gen.output}`);

    const signerPort = await freeLoopbackPort();
    this.signer = { port: signerPort, metricsPort: await freeLoopbackPort(), proc: undefined as unknown as Proc };
    this.signer.proc = new Proc('signer', process.execPath, [CLI, 'signer'], {
      ...this.roleEnv(),
      NOTARY_SIGNING_KEY_FILE: this.keyFile,
      NOTARY_SIGNER_PORT: String(signerPort),
      NOTARY_METRICS_PORT: String(this.signer.metricsPort),
    });
    this.signer.proc.start();
    await waitReady(this.signer.proc, `http://127.0.0.1:${signerPort}/healthz`);

    for (let i = 0; i < (this.opts.workers ?? 2); i++) {
      const metricsPort = await freeLoopbackPort();
      const proc = new Proc(`worker${i + 1}`, process.execPath, [CLI, 'worker'], { ...this.roleEnv(), NOTARY_METRICS_PORT: String(metricsPort) });
      this.workers.push({ proc, port: 0, metricsPort });
      proc.start();
    }
    for (let i = 0; i < (this.opts.apiPods ?? 3); i++) {
      const port = await freeLoopbackPort();
      const metricsPort = await freeLoopbackPort();
      const proc = new Proc(`api${i + 1}`, process.execPath, [CLI, 'api'], {
        ...this.roleEnv(),
        NOTARY_PORT: String(port),
        NOTARY_METRICS_PORT: String(metricsPort),
      });
      this.apis.push({ proc, port, metricsPort });
      proc.start();
    }
    await Promise.all([
      ...this.workers.map((w) => waitReady(w.proc, `http://127.0.0.1:${w.metricsPort}/metrics`)),
      ...this.apis.map((a) => waitReady(a.proc, `http://127.0.0.1:${a.port}/_notary/health/ready`)),
    ]);
    await this.startBalancer();
  }

  private async startBalancer(): Promise<void> {
    const cert = await this.ca.issue({ ips: ['127.0.0.1'], dns: [NOTARY_NAME] });
    const pem = path.join(this.dir, 'lb.pem');
    fs.writeFileSync(pem, `${cert.certPem.trim()}\n${cert.keyPem.trim()}\n`, { mode: 0o600 });
    this.balancerPort = await freeLoopbackPort();
    this.statsPort = await freeLoopbackPort();
    const env: Record<string, string> = {
      NOTARY_LB_BIND: `127.0.0.1:${this.balancerPort}`,
      NOTARY_LB_CERT: pem,
      NOTARY_LB_STATS_BIND: `127.0.0.1:${this.statsPort}`,
      // Within the file descriptors a CI container allows.
      NOTARY_LB_MAXCONN: '400',
    };
    this.apis.forEach((a, i) => (env[`NOTARY_API_${i + 1}`] = `127.0.0.1:${a.port}`));
    // -db: stay in the foreground; HAProxy's log lines are its own plain-text format.
    this.balancer = new Proc('haproxy', 'haproxy', ['-db', '-f', HAPROXY_CONFIG], env, /./);
    this.balancer.start();
    const spawnError = new Promise<never>((_, reject) =>
      this.balancer.child!.once('error', (err) => reject(new Error(`haproxy could not be started (${err.message}): install it (apt-get install haproxy)`))),
    );
    const allUp = (async () => {
      const deadline = Date.now() + START_TIMEOUT_MS;
      while (Date.now() < deadline) {
        if (!this.balancer.running) break;
        if ((await this.upServers().catch(() => [])).length === this.apis.length) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`HAProxy did not bring every api pod up within ${START_TIMEOUT_MS} ms; it said:\n${this.balancer.output()}`);
    })();
    await Promise.race([allUp, spawnError]);
  }

  /** The api servers HAProxy has in rotation now (from its CSV status page). */
  async upServers(): Promise<string[]> {
    const res = await fetch(`http://127.0.0.1:${this.statsPort}/stats;csv`, { signal: AbortSignal.timeout(2000) });
    const rows = (await res.text()).split('\n').map((l) => l.split(','));
    return rows.filter((r) => r[0] === 'api' && /^api\d+$/.test(r[1] ?? '') && r[17] === 'UP').map((r) => r[1]);
  }

  /** A FakeOrigin on loopback (its server name is 127.0.0.1:<port>), stopped with the cluster. */
  async origin(): Promise<FakeOrigin> {
    const origin = await FakeOrigin.start({ ca: this.ca });
    this.origins.push(origin);
    return origin;
  }

  async restartApi(i: number): Promise<number> {
    const pod = this.apis[i];
    await pod.proc.restart();
    const started = Date.now();
    await waitReady(pod.proc, `http://127.0.0.1:${pod.port}/_notary/health/ready`);
    return Date.now() - started;
  }

  async restartWorker(i: number): Promise<void> {
    const w = this.workers[i];
    await w.proc.restart();
    await waitReady(w.proc, `http://127.0.0.1:${w.metricsPort}/metrics`);
  }

  async startSigner(): Promise<void> {
    this.signer.proc.start();
    await waitReady(this.signer.proc, `http://127.0.0.1:${this.signer.port}/healthz`);
  }

  /** A counter's value from a process's /metrics (summed over its labels), or 0. */
  async metric(metricsPort: number, name: string): Promise<number> {
    try {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
      let sum = 0;
      for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'gm'))) sum += Number(m[1]);
      return sum;
    } catch {
      return 0;
    }
  }

  /** Lines any process printed that are neither JSON log lines nor allowed: stack traces above all. */
  strays(): string[] {
    return this.procs.flatMap((p) => p.strayLines.map((l) => `${p.name}: ${l}`));
  }

  async stop(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.halt()));
    await Promise.all(this.origins.map((o) => o.stop()));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
