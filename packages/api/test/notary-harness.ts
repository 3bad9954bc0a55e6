/**
 * Starts real notary parts for a test: api and worker instances (as many as asked) sharing the
 * test Redis under a unique prefix, the in-process signer, a test CA trusted for origins.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createLogger, VariableReader } from '@matrix-notary/common';
import { generateSeed } from '@matrix-notary/protocol';
import { LocalSigner } from '@matrix-notary/signer';
import { type NotarySigner } from '@matrix-notary/signer-client';
import { createTestCa, deletePrefix, FakeOrigin, testRedisUrl, uniquePrefix, type IssuedCert, type TestCa } from '@matrix-notary/testing';
import { readWorkerConfig, startWorker, type WorkerHandle } from '@matrix-notary/worker';
import { Registry } from 'prom-client';
import { readApiConfig, startApi, type ApiHandle, type HttpTimeouts } from '../src';

export const NOTARY_NAME = 'notary.test';

export interface Notary {
  prefix: string;
  signer: LocalSigner;
  apis: ApiHandle[];
  workers: WorkerHandle[];
  registries: Registry[];
  logs: string[];
  url(path: string, api?: number): string;
  stop(): Promise<void>;
}

export interface NotaryOptions {
  ca: TestCa;
  env?: Record<string, string>;
  /** A Redis of the test's own (one it stops or restarts); default: the shared test Redis. */
  redisUrl?: string;
  /** Puts something between the roles and the in-process signer (a signer that fails on demand). */
  wrapSigner?: (signer: LocalSigner) => Pick<NotarySigner, 'ownKeys' | 'countersign'>;
  apis?: number;
  workers?: number;
  httpTimeouts?: HttpTimeouts;
  /** The clock of every role (api, worker, signer); default the wall clock. See TestClock. */
  now?: () => number;
}

/**
 * A clock a test moves by hand, passed to every role as `now`: the notary then sees exactly the
 * times the test sets (fetch times, half-lives, intervals), however long the test really takes.
 * It starts at the wall clock's time, so certificates and BullMQ, which use real time, agree.
 */
export class TestClock {
  private ms = Date.now();
  readonly now = (): number => this.ms;

  set(ms: number): void {
    if (ms < this.ms) throw new Error(`the test clock only moves forward (at ${this.ms}, asked for ${ms})`);
    this.ms = ms;
  }

  advance(ms: number): void {
    this.set(this.ms + ms);
  }
}

export async function startNotary(opts: NotaryOptions): Promise<Notary> {
  const prefix = uniquePrefix('notary');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'notary-harness-'));
  const caFile = path.join(dir, 'ca.pem');
  fs.writeFileSync(caFile, opts.ca.caPem);
  const env: Record<string, string> = {
    NOTARY_SERVER_NAME: NOTARY_NAME,
    REDIS_URL: opts.redisUrl ?? testRedisUrl(),
    NOTARY_REDIS_PREFIX: prefix,
    NOTARY_SIGNER_TOKEN: 'unused-in-process-token',
    NOTARY_PORT: '0',
    NOTARY_BIND: '127.0.0.1',
    NOTARY_ALLOWED_ADDRESSES: '127.0.0.1/32',
    NOTARY_FEDERATION_CA_FILE: caFile,
    NOTARY_ORIGIN_MIN_INTERVAL_S: '0',
    NOTARY_FETCH_WAIT_MS: '3000',
    NOTARY_ORIGIN_CONNECT_TIMEOUT_MS: '1000',
    NOTARY_ORIGIN_TIMEOUT_MS: '2000',
    ...opts.env,
  };
  const reader = new VariableReader(env);
  const apiConfig = readApiConfig(reader);
  const workerConfig = readWorkerConfig(reader);
  reader.done();

  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const logger = createLogger({ role: 'test', level: 'debug', destination: sink });
  const signer = new LocalSigner({
    serverName: NOTARY_NAME,
    key: { version: 'test1', seed: generateSeed() },
    oldKeys: {},
    ownKeyValidityMs: 24 * 60 * 60 * 1000,
    now: opts.now,
  });
  const roleSigner = opts.wrapSigner ? opts.wrapSigner(signer) : signer;
  const registries: Registry[] = [];
  const workers: WorkerHandle[] = [];
  const apis: ApiHandle[] = [];
  for (let i = 0; i < (opts.workers ?? 1); i++) {
    const registry = new Registry();
    registries.push(registry);
    workers.push(await startWorker(workerConfig, { signer: roleSigner, logger, registry, now: opts.now }));
  }
  for (let i = 0; i < (opts.apis ?? 1); i++) {
    const registry = new Registry();
    registries.push(registry);
    apis.push(await startApi(apiConfig, { signer: roleSigner, logger, registry, httpTimeouts: opts.httpTimeouts, now: opts.now }));
  }
  return {
    prefix,
    signer,
    apis,
    workers,
    registries,
    logs,
    url: (p, api = 0) => `http://127.0.0.1:${apis[api].port}${p}`,
    async stop() {
      await Promise.all(apis.map((a) => a.stop()));
      await Promise.all(workers.map((w) => w.stop()));
      await signer.close();
      if (opts.redisUrl === undefined) await deletePrefix(prefix);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The value of a counter with the given labels, summed over the registries given. */
export async function counterValue(registries: Registry[], name: string, labels: Record<string, string> = {}): Promise<number> {
  let total = 0;
  for (const r of registries) {
    const metric = r.getSingleMetric(name);
    if (!metric) continue;
    const { values } = await metric.get();
    for (const v of values) {
      if (Object.entries(labels).every(([k, val]) => String(v.labels[k]) === val)) total += v.value;
    }
  }
  return total;
}

export interface JsonAnswer {
  status: number;
  json: any;
  text: string;
}

async function requestJson(url: string, init?: RequestInit): Promise<JsonAnswer> {
  const res = await fetch(url, init);
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

export function postQuery(url: string, body: unknown): Promise<JsonAnswer> {
  return requestJson(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

export function getJson(url: string): Promise<JsonAnswer> {
  return requestJson(url);
}

export interface TestBed {
  /** A notary on the test CA; stopped after the test. */
  notary(opts?: Omit<NotaryOptions, 'ca'>): Promise<Notary>;
  /** An HTTPS origin with a certificate from the test CA; stopped after the test. */
  origin(): Promise<FakeOrigin>;
  /** A certificate from the test CA, which the notaries trust (for other HTTPS servers a test runs). */
  issue(names: { dns?: string[]; ips?: string[] }): Promise<IssuedCert>;
  /** The test CA's certificate (PEM), for parts a test builds itself that must trust the origins. */
  caPem(): string;
}

/** Registers this file's jest hooks: one test CA, and every notary and origin stopped after each test. */
export function useTestBed(): TestBed {
  let ca: TestCa;
  const cleanups: Array<() => Promise<void>> = [];
  beforeAll(async () => {
    ca = await createTestCa();
  });
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });
  return {
    async notary(opts = {}) {
      const n = await startNotary({ ca, ...opts });
      cleanups.push(() => n.stop());
      return n;
    },
    async origin() {
      const o = await FakeOrigin.start({ ca });
      cleanups.push(() => o.stop());
      return o;
    },
    issue(names) {
      return ca.issue(names);
    },
    caPem() {
      return ca.caPem;
    },
  };
}
