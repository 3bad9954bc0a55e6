/**
 * Memory: an api pod's resident memory idle, after a flood of distinct cached servers was
 * queried, and after a flood of distinct unknown ones; and the Redis bytes one cached server
 * costs. The cached servers are written through the store's own storeResponse (what a worker
 * calls after countersigning) with responses of the typical ~1 KB shape: fetching 100,000 origins
 * through the farm would take minutes, and an api pod never verifies what it serves. The unknown
 * servers are names under the farm's zone that its DNS server does not know: the notary tries
 * each one (queue, worker, discovery) and answers without it.
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { canonicalJsonBytes, encodeBase64, responseKeys, type ResponseKey } from '@matrix-notary/protocol';
import { bullPrefix, createRedis, KeyStore } from '@matrix-notary/store';
import { MEMORY_FLOOD_MAX_S } from '../config';
import type { BenchContext } from '../context';
import { residentBytes } from '../cpu';
import type { Deployment } from '../deployments';
import { request } from '../http-client';
import { scrapeMetrics } from '../probes';
import { round } from '../stats';
import { QUERY_PATH } from './throughput';

const BATCH = 100;
const CONCURRENCY = 8;
const SEED_CHUNK = 2000;
/** Retired keys in a typical response: with one current key and two signatures, about 1 KB. */
const TYPICAL_OLD_KEYS = 6;
const MB = 1024 * 1024;

export interface MemoryPoint {
  /** Which api pod. */
  pod: string;
  rssMB: number;
  heapUsedMB?: number;
  /** Memory of Buffers and other objects outside V8's heap (Node's `external`). */
  externalMB?: number;
}

export interface FloodResult {
  /** Servers asked (fewer than planned when the flood hit its time limit). */
  servers: number;
  planned: number;
  requests: number;
  seconds: number;
  serversPerSecond: number;
  /** Entries the answers held in all (cached: one per server; unknown: none expected). */
  entriesAnswered: number;
  /** Monotonic µs window of the flood (for CPU profiles). */
  startUs: number;
  endUs: number;
  failures: string[];
}

export interface MemoryResult {
  servers: number;
  typicalResponseBytes: number;
  seedSeconds: number;
  /** Both api pods before anything was asked of them. */
  idle: MemoryPoint;
  idleOther: MemoryPoint;
  /** api1 after the cached servers; api2 (fresh) after the unknown ones, so neither hides the other. */
  afterCached?: MemoryPoint;
  afterUnknown?: MemoryPoint;
  cachedFlood?: FloodResult;
  unknownFlood?: FloodResult;
  redis: {
    /** Keys the seeding added under the deployment's prefix (queue keys excluded), per server. */
    keysPerServer: number;
    /** MEMORY USAGE summed over those keys, per server. */
    bytesPerServer: number;
    /** INFO used_memory growth during the seeding, per server (allocator overhead included). */
    usedMemoryPerServer: number;
  };
}

async function point(api: Deployment['apis'][number]): Promise<MemoryPoint> {
  const metrics = await scrapeMetrics(api.metricsPort).catch(() => undefined);
  const mb = (name: string) => {
    const v = metrics?.sum(`matrix_notary_nodejs_${name}`);
    return v === undefined ? undefined : round(v / MB, 1);
  };
  return { pod: api.label, rssMB: round((residentBytes(api.pid) ?? NaN) / MB, 1), heapUsedMB: mb('heap_size_used_bytes'), externalMB: mb('external_memory_bytes') };
}

function describe(p: MemoryPoint): string {
  return `RSS ${p.rssMB} MB (V8 heap ${p.heapUsedMB ?? '?'} MB, outside it ${p.externalMB ?? '?'} MB)`;
}

/** Both api pods' memory before anything was asked of them. */
export async function idleRss(ctx: BenchContext, notary: Deployment): Promise<[MemoryPoint, MemoryPoint]> {
  const idle = await Promise.all(notary.apis.slice(0, 2).map(point));
  for (const p of idle) ctx.say(`memory: ${p.pod} idle: ${describe(p)}`);
  return [idle[0], idle[1] ?? idle[0]];
}

/** A response of the typical shape and size, with random keys and signatures (never verified here). */
export function typicalResponse(serverName: string, notaryName: string, validUntilTs: number): { bytes: Buffer; keys: ResponseKey[] } {
  const b64 = (n: number) => encodeBase64(randomBytes(n));
  const old: Record<string, { key: string; expired_ts: number }> = {};
  for (let i = 0; i < TYPICAL_OLD_KEYS; i++) old[`ed25519:old${i}`] = { key: b64(32), expired_ts: validUntilTs - (i + 2) * 86_400_000 };
  const response = {
    server_name: serverName,
    valid_until_ts: validUntilTs,
    verify_keys: { 'ed25519:bench': { key: b64(32) } },
    old_verify_keys: old,
    signatures: { [serverName]: { 'ed25519:bench': b64(64) }, [notaryName]: { 'ed25519:notary': b64(64) } },
  };
  return { bytes: canonicalJsonBytes(response), keys: responseKeys(response, Date.now()) };
}

export function memoryServerName(i: number): string {
  return `m${i}.memory.bench.test`;
}

/** With a port, so each costs the worker one failed DNS lookup, not a whole discovery: the flood ends sooner, the api's path is the same. */
export function unknownServerName(i: number): string {
  return `u${i}.unknown.bench.test:8448`;
}

export class MemoryScenario {
  private result?: MemoryResult;

  constructor(
    private readonly ctx: BenchContext,
    private readonly notary: Deployment,
    private readonly idle: [MemoryPoint, MemoryPoint],
  ) {}

  /** Writes the cached servers and measures what they cost Redis. */
  async seed(): Promise<void> {
    const { ctx, notary } = this;
    const n = ctx.config.memoryServers;
    ctx.say(`memory: storing ${n.toLocaleString('en-US')} typical responses through the store`);
    const prefixKeys = async () => (await ctx.probe.keys(`${notary.prefix}:*`)).filter((k) => !k.startsWith(`${bullPrefix(notary.prefix)}:`));
    const keysBefore = new Set(await prefixKeys());
    const usedBefore = await ctx.probe.usedMemory();
    const redis = createRedis(ctx.redis.url, { connectionName: 'bench-memory-seed' });
    const store = new KeyStore(redis, { prefix: notary.prefix });
    const validUntilTs = Date.now() + 7 * 86_400_000;
    let typicalBytes = 0;
    const t0 = performance.now();
    try {
      for (let i = 0; i < n; i += SEED_CHUNK) {
        const writes: Promise<unknown>[] = [];
        for (let j = i; j < Math.min(n, i + SEED_CHUNK); j++) {
          const { bytes, keys } = typicalResponse(memoryServerName(j), ctx.cluster.serverName, validUntilTs);
          typicalBytes = bytes.length;
          writes.push(store.storeResponse(memoryServerName(j), bytes, { validUntilTs, keys }, Date.now(), 60_000));
        }
        await Promise.all(writes);
      }
    } finally {
      redis.disconnect();
    }
    const seedSeconds = (performance.now() - t0) / 1000;
    const usedAfter = await ctx.probe.usedMemory();
    const added = (await prefixKeys()).filter((k) => !keysBefore.has(k));
    const bytes = await ctx.probe.memoryUsage(added);
    this.result = {
      servers: n,
      typicalResponseBytes: typicalBytes,
      seedSeconds: round(seedSeconds, 1),
      idle: this.idle[0],
      idleOther: this.idle[1],
      redis: {
        keysPerServer: round(added.length / n, 2),
        bytesPerServer: Math.round(bytes / n),
        usedMemoryPerServer: Math.round((usedAfter - usedBefore) / n),
      },
    };
    ctx.say(`memory: Redis holds ${this.result.redis.bytesPerServer} B per cached server (MEMORY USAGE; a response is ${typicalBytes} B)`);
  }

  private async flood(api: Deployment['apis'][number], names: (i: number) => string, what: string): Promise<FloodResult> {
    const { ctx } = this;
    const n = ctx.config.memoryServers;
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const failures: string[] = [];
    let entries = 0;
    let requests = 0;
    let next = 0;
    const startUs = Number(process.hrtime.bigint() / 1000n);
    const t0 = performance.now();
    const deadline = t0 + MEMORY_FLOOD_MAX_S * 1000;
    let lastReport = t0;
    try {
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < n && performance.now() < deadline) {
            const from = next;
            next = Math.min(n, next + BATCH);
            const serverKeys: Record<string, Record<string, never>> = {};
            for (let i = from; i < next; i++) serverKeys[names(i)] = {};
            const answer = await request(api.port!, 'POST', QUERY_PATH, JSON.stringify({ server_keys: serverKeys }), agent);
            requests++;
            if (answer.status !== 200) {
              if (failures.length < 5) failures.push(`${what}: a POST of ${next - from} servers answered ${answer.status}: ${answer.body.toString('utf8').slice(0, 200)}`);
              continue;
            }
            entries += ((JSON.parse(answer.body.toString('utf8')) as { server_keys?: unknown[] }).server_keys ?? []).length;
            if (performance.now() - lastReport > 10_000) {
              lastReport = performance.now();
              ctx.say(`memory: ${what}: ${next.toLocaleString('en-US')} of ${n.toLocaleString('en-US')} servers asked`);
            }
          }
        }),
      );
    } finally {
      agent.destroy();
    }
    const seconds = (performance.now() - t0) / 1000;
    const endUs = Number(process.hrtime.bigint() / 1000n);
    if (next < n) failures.push(`${what}: stopped after ${MEMORY_FLOOD_MAX_S} s with ${next} of ${n} servers asked`);
    return { servers: next, planned: n, requests, seconds: round(seconds, 1), serversPerSecond: Math.round(next / seconds), entriesAnswered: entries, startUs, endUs, failures };
  }

  /** Queries every cached server once, in POSTs of 100, and measures the pod. */
  async queryCached(): Promise<void> {
    const api = this.notary.apis[0];
    const flood = await this.flood(api, memoryServerName, 'cached servers');
    if (flood.entriesAnswered !== flood.servers) flood.failures.push(`cached servers: the answers held ${flood.entriesAnswered} entries for ${flood.servers} servers`);
    this.result!.cachedFlood = flood;
    this.result!.afterCached = await point(api);
    this.ctx.say(`memory: ${api.label} after ${flood.servers.toLocaleString('en-US')} cached servers (${flood.seconds} s): ${describe(this.result!.afterCached)}`);
  }

  /** Queries as many servers nobody knows, in POSTs of 100, through the other pod, and measures it. */
  async queryUnknown(): Promise<void> {
    const api = this.notary.apis[1] ?? this.notary.apis[0];
    const flood = await this.flood(api, unknownServerName, 'unknown servers');
    if (flood.entriesAnswered !== 0) flood.failures.push(`unknown servers: the answers held ${flood.entriesAnswered} entries, expected none`);
    this.result!.unknownFlood = flood;
    this.result!.afterUnknown = await point(api);
    this.ctx.say(`memory: ${api.label} after ${flood.servers.toLocaleString('en-US')} unknown servers (${flood.seconds} s): ${describe(this.result!.afterUnknown)}`);
  }

  get measured(): MemoryResult | undefined {
    return this.result;
  }
}
