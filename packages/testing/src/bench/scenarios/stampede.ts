/**
 * Stampede: many clients ask at once for servers the notary has never seen, each server by
 * several clients through different api pods (split roles). One fetch per origin across the
 * cluster is the rule, counted where the fetches land (the origin farm); every query must still
 * be answered with its server's keys, in about the origin's own latency.
 */
import http from 'node:http';
import type { BenchContext } from '../context';
import type { Deployment } from '../deployments';
import { BenchFailure } from '../errors';
import { request } from '../http-client';
import { percentileOf, round } from '../stats';
import { checkQueryAnswer, QUERY_PATH, SERVER_PATH } from './throughput';

export interface StampedeResult {
  queries: number;
  origins: number;
  apiPods: number;
  originLatencyMs: number;
  /** Fetches the origins received, in all and per origin. */
  originFetches: number;
  originsFetched: number;
  maxFetchesPerOrigin: number;
  answered: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  /** p50 and p99 over the origins' own latency. */
  p50OverOrigin: number;
  p99OverOrigin: number;
  wallMs: number;
  /** Monotonic µs window of the queries (for CPU profiles). */
  startUs: number;
  endUs: number;
  /** Queries not answered with their server's keys (a finding about the notary, not a broken run): a sample. */
  failures: string[];
}

export async function runStampede(ctx: BenchContext, notary: Deployment): Promise<StampedeResult> {
  const { config, farm } = ctx;
  const names = farm.names('s');
  const apis = notary.apis;
  const perPod = Math.ceil(config.stampedeQueries / apis.length);
  ctx.say(`stampede: ${config.stampedeQueries} concurrent first-time queries over ${names.length} origins (${config.originLatencyMs} ms each), through ${apis.length} api pods`);
  // Connections are opened first (as homeservers keep theirs open): the queries then all leave
  // at once, and what is timed is the notary, not TCP's accept queue.
  const agents = apis.map(() => new http.Agent({ keepAlive: true, maxSockets: perPod, maxFreeSockets: perPod }));
  try {
    await Promise.all(apis.flatMap((api, i) => Array.from({ length: perPod }, () => request(api.port!, 'GET', SERVER_PATH, undefined, agents[i]))));
    const before = (await farm.counts()).groups.s;
    const latencies: number[] = [];
    let answered = 0;
    const failures: string[] = [];
    const startUs = Number(process.hrtime.bigint() / 1000n);
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: config.stampedeQueries }, async (_, k) => {
        const name = names[k % names.length];
        // Each origin's queries alternate between the pods.
        const pod = Math.floor(k / names.length) % apis.length;
        const started = performance.now();
        try {
          const answer = await request(apis[pod].port!, 'GET', `${QUERY_PATH}/${encodeURIComponent(name)}`, undefined, agents[pod]);
          latencies.push(performance.now() - started);
          checkQueryAnswer(answer, [name], ctx.cluster.serverName, `query ${k} (${name})`);
          answered++;
        } catch (err) {
          failures.push(err instanceof BenchFailure ? err.message : (err as Error).message);
        }
      }),
    );
    const wallMs = performance.now() - t0;
    const endUs = Number(process.hrtime.bigint() / 1000n);
    const after = (await farm.counts()).groups.s;
    const sample = failures.slice(0, 5);
    if (failures.length > 5) sample.push(`… and ${failures.length - 5} more`);
    const p50 = percentileOf(latencies, 50);
    const p99 = percentileOf(latencies, 99);
    const result: StampedeResult = {
      queries: config.stampedeQueries,
      origins: names.length,
      apiPods: apis.length,
      originLatencyMs: config.originLatencyMs,
      originFetches: after.fetches - before.fetches,
      originsFetched: after.distinct - before.distinct,
      maxFetchesPerOrigin: after.maxPerOrigin,
      answered,
      latencyMs: { p50: round(p50), p90: round(percentileOf(latencies, 90)), p99: round(p99), max: round(percentileOf(latencies, 100)) },
      p50OverOrigin: config.originLatencyMs > 0 ? round(p50 / config.originLatencyMs) : 0,
      p99OverOrigin: config.originLatencyMs > 0 ? round(p99 / config.originLatencyMs) : 0,
      wallMs: Math.round(wallMs),
      startUs,
      endUs,
      failures: sample,
    };
    ctx.say(
      `stampede: ${result.originFetches} origin fetches for ${names.length} origins (max ${result.maxFetchesPerOrigin} per origin); ` +
        `${answered}/${config.stampedeQueries} answered; p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms`,
    );
    return result;
  } finally {
    for (const a of agents) a.destroy();
  }
}
