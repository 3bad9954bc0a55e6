/** Shared parts of the federation integration tests: a CA, a DNS server, origins, logs, metrics. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Registry } from 'prom-client';
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '@matrix-notary/common';
import { FederationClient, type FederationClientOptions } from '@matrix-notary/federation';
import {
  createTestCa,
  startHttpsServer,
  TestDnsServer,
  type IssuedCert,
  type OriginHandler,
  type TestCa,
  type TestHttpsServer,
} from '@matrix-notary/testing';

/** Every origin a test starts lives here; only these are in NOTARY_ALLOWED_ADDRESSES. */
export const ALLOWED_TEST_ADDRESSES = ['127.0.0.16/28', '127.0.0.32/27', '127.0.0.64/26', '::1/128'];
/** A loopback address outside that list: the filter must keep the notary away from it. */
export const FORBIDDEN_ADDRESS = '127.0.0.1';

export interface LogLine {
  level: string;
  obj: Record<string, unknown>;
  msg: string;
}

/** A real pino logger, as the worker passes, whose lines the test reads back. */
export class CapturingLogger {
  readonly lines: LogLine[] = [];
  readonly pino: Logger = createLogger({
    role: 'test',
    level: 'debug',
    destination: new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        const { level, msg, time: _time, role: _role, ...obj } = JSON.parse(String(chunk)) as Record<string, unknown>;
        this.lines.push({ level: String(level), obj, msg: String(msg ?? '') });
        done();
      },
    }),
  });
  warnings(): LogLine[] {
    return this.lines.filter((l) => l.level === 'warn');
  }
}

/** A clock the test moves by hand, for the caches. */
export class FakeClock {
  ms = Date.UTC(2030, 0, 1);
  readonly now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

export async function metricValue(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  const match = values.find((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want));
  return match?.value ?? 0;
}

export function keysBody(serverName: string, marker: string): string {
  return JSON.stringify({ server_name: serverName, marker, verify_keys: {}, valid_until_ts: 0 });
}

export function serveJson(body: string, status = 200, headers: Record<string, string> = {}): OriginHandler {
  return (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
    res.end(body);
  };
}

export interface Harness {
  ca: TestCa;
  dns: TestDnsServer;
  clock: FakeClock;
  logger: CapturingLogger;
  registry: Registry;
  client(overrides?: Partial<FederationClientOptions>): FederationClient;
  /** An HTTPS server on host:port (0: any) with a CA-issued certificate for `names`. */
  origin(host: string, port: number, names: { dns?: string[]; ips?: string[] }, handler: OriginHandler): Promise<TestHttpsServer>;
  originWithCert(host: string, port: number, cert: IssuedCert, handler: OriginHandler): Promise<TestHttpsServer>;
  /** Registers something to close after the current test. */
  defer(close: () => Promise<void> | void): void;
  cleanup(): Promise<void>;
  /** Fresh log and metrics, for a new test. */
  reset(): void;
}

export async function createHarness(): Promise<Harness> {
  const ca = await createTestCa();
  const dns = await TestDnsServer.start();
  const closers: Array<() => Promise<void> | void> = [];
  const h: Harness = {
    ca,
    dns,
    clock: new FakeClock(),
    logger: new CapturingLogger(),
    registry: new Registry(),
    client(overrides = {}) {
      const c = new FederationClient({
        allowPrivateAddresses: false,
        allowedAddresses: ALLOWED_TEST_ADDRESSES,
        connectTimeoutMs: 1000,
        totalTimeoutMs: 4000,
        maxResponseBytes: 64 * 1024,
        extraCaPem: ca.caPem,
        dnsServers: [dns.resolverAddress],
        logger: h.logger.pino,
        registry: h.registry,
        now: h.clock.now,
        ...overrides,
      });
      closers.push(() => c.close());
      return c;
    },
    async origin(host, port, names, handler) {
      return h.originWithCert(host, port, await ca.issue(names), handler);
    },
    async originWithCert(host, port, cert, handler) {
      const server = await startHttpsServer({ host, port, cert, handler });
      closers.push(() => server.close());
      return server;
    },
    defer(close) {
      closers.push(close);
    },
    async cleanup() {
      while (closers.length > 0) await closers.pop()!();
    },
    reset() {
      h.clock = new FakeClock();
      h.logger = new CapturingLogger();
      h.registry = new Registry();
    },
  };
  return h;
}

/**
 * Registers a test file's hooks around one shared harness: created once, reset before and cleaned
 * up after each test, its DNS server closed at the end. `onCreated` receives it.
 */
export function useHarness(onCreated: (h: Harness) => void): void {
  let harness: Harness;
  beforeAll(async () => {
    harness = await createHarness();
    onCreated(harness);
  });
  afterAll(async () => {
    await harness.dns.close();
  });
  beforeEach(() => harness.reset());
  afterEach(async () => {
    await harness.cleanup();
  });
}
