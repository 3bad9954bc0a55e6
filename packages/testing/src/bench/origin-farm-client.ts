/** Starts the origin farm (origin-farm.ts) as a child process and talks to it over IPC. */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { TestCa } from '../tls';
import type { Cleanup } from './cleanup';
import { BenchFailure } from './errors';
import { originName, type FarmCounts, type FarmGroup, type FarmRequest, type FarmResponse } from './origin-farm-protocol';
import { stopChild } from './processes';

const REQUEST_TIMEOUT_MS = 120_000;

/** A request before it is numbered (Omit over each member of the union). */
type Unnumbered<T> = T extends unknown ? Omit<T, 'id'> : never;

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

export class OriginFarm {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  private httpsPortValue = 0;
  private dnsPortValue = 0;

  private constructor(
    private readonly child: ChildProcess,
    readonly zone: string,
    private readonly groups: FarmGroup[],
  ) {
    child.on('message', (m: FarmResponse) => this.settle(m));
    child.once('exit', (code, signal) => this.failAll(new BenchFailure(`the origin farm exited (code ${code}, signal ${signal})`)));
  }

  get httpsPort(): number {
    return this.httpsPortValue;
  }

  get dnsPort(): number {
    return this.dnsPortValue;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** NOTARY_DNS_SERVERS for a notary that must find the farm's origins. */
  get resolver(): string {
    return `127.0.0.1:${this.dnsPort}`;
  }

  /** The server names of a group (its first `count`, or all). */
  names(prefix: string, count?: number): string[] {
    const g = this.groups.find((x) => x.prefix === prefix);
    if (!g) throw new Error(`the origin farm has no group "${prefix}"`);
    const n = Math.min(count ?? g.count, g.count);
    return Array.from({ length: n }, (_, i) => originName(prefix, i, this.zone, this.httpsPort));
  }

  /** Forks the farm, which signs every origin's response before it answers: ready to serve. */
  static async start(ca: TestCa, zone: string, groups: FarmGroup[], cleanup: Cleanup): Promise<OriginFarm> {
    const cert = await ca.issue({ dns: [`*.${zone}`] });
    const child = fork(path.join(__dirname, 'origin-farm.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    cleanup.child(child);
    const farm = new OriginFarm(child, zone, groups);
    cleanup.add('stop the origin farm', () => farm.stop());
    const started = (await farm.request({ cmd: 'start', args: { zone, groups, certPem: cert.certPem, keyPem: cert.keyPem } })) as {
      httpsPort: number;
      dnsPort: number;
    };
    farm.httpsPortValue = started.httpsPort;
    farm.dnsPortValue = started.dnsPort;
    return farm;
  }

  counts(): Promise<FarmCounts> {
    return this.request({ cmd: 'counts' }) as Promise<FarmCounts>;
  }

  async stop(): Promise<void> {
    if (this.child.connected) await this.request({ cmd: 'stop' }).catch(() => undefined);
    await stopChild(this.child);
  }

  private request(req: Unnumbered<FarmRequest>): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new BenchFailure(`the origin farm did not answer "${req.cmd}" within ${REQUEST_TIMEOUT_MS} ms`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      this.child.send({ ...req, id } as FarmRequest);
    });
  }

  private settle(m: FarmResponse): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.ok) p.resolve(m.result);
    else p.reject(new BenchFailure(`the origin farm failed: ${m.error}`));
  }

  private failAll(err: Error): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(err);
    }
  }
}
