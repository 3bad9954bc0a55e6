/**
 * Throughput and latency under load: each hot path of the notary (`matrix-notary all`) side by
 * side with a bare node:http server sending the same bytes, interleaved A B / B A round after
 * round so a drift in the machine's load hits both. Every run is also a latency run: its p50,
 * p99, p99.9 and max, and the requests slower than 10× its own p99 (a stall), set beside what
 * the notary process and Redis went through meanwhile (event-loop delay, GC, slow commands).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { PairId } from '../config';
import type { BenchContext } from '../context';
import { CpuMeter } from '../cpu';
import type { Deployment } from '../deployments';
import { processDiagnostics, type ProcessDiagnostics } from '../diagnostics';
import { BenchFailure } from '../errors';
import type { GcLog, GcPause } from '../gc-trace';
import { request, responseWireBytes, type HttpAnswer } from '../http-client';
import { loadProblems, runWrk, type LoadTarget } from '../load';
import { FARM_KEY_ID } from '../origin-farm-protocol';
import { scrapeMetrics, type RedisSlowMoments } from '../probes';
import { setTimeout as sleep } from 'node:timers/promises';
import { startBaseline } from '../processes';
import { checkStalls, LatencyHistogram, round, type LatencySummary, type StallCheck } from '../stats';
import { BODY_COUNTER } from '../wrk-script';

export const QUERY_PATH = '/_matrix/key/v2/query';
export const SERVER_PATH = '/_matrix/key/v2/server';
const PAUSE_BETWEEN_RUNS_MS = 300;
/** The cached servers the POST pairs ask for (the largest batch). */
export const CACHED_SERVERS = 100;

export type { PairId };

interface PairDef {
  id: PairId;
  label: string;
  notary: LoadTarget;
  baseline: LoadTarget;
}

export type Side = 'notary' | 'baseline';

export interface ThroughputRun {
  pair: PairId;
  side: Side;
  round: number;
  startedAt: string;
  /** Monotonic µs (the clock of V8's CPU profiles), to select a run's samples. */
  startUs: number;
  endUs: number;
  durationS: number;
  requests: number;
  requestsPerS: number;
  latencyMs: LatencySummary;
  stall: StallCheck;
  /** CPU seconds during the run: server (the notary or the baseline), redis, loadgen (wrk), bench, other. */
  cpuS: Record<string, number>;
  /** The notary process's own view of the run (notary side only). */
  notary?: ProcessDiagnostics;
  /** Long GC pauses seen in the run (BENCH_TRACE_GC=1 only). */
  gcPauses?: GcPause[];
  redis: RedisSlowMoments;
  problems: string[];
}

export interface SideSummary {
  runs: number;
  requests: number;
  durationS: number;
  requestsPerS: number;
  latencyMs: LatencySummary;
  /** CPU µs per request by process. */
  cpuUsPerRequest: Record<string, number>;
  /** Average share of one core during the runs, %. */
  cpuPercent: Record<string, number>;
  responseBytes: number;
}

export interface PairResult {
  id: PairId;
  label: string;
  notary: SideSummary;
  baseline: SideSummary;
  /** Pooled req/s of the notary / the baseline's. */
  ratio: number;
  /** The same per round, to show the spread. */
  roundRatios: number[];
  /** Pooled p99 of the notary / the baseline's. */
  p99Ratio: number;
}

export interface ThroughputResult {
  connections: number;
  secondsPerRun: number;
  rounds: number;
  bodies: { queryAnswerBytes: number; serverAnswerBytes: number; post100AnswerBytes: number; post100RequestBytes: number };
  pairs: PairResult[];
  runs: ThroughputRun[];
  /** Origin fetches while the load ran (must be 0: a pure cache-hit measurement). */
  originFetchesDuringLoad: number;
  problems: string[];
}

function postBody(names: readonly string[], minValidUntilTs: number): string {
  // The shape Synapse sends: each server with the key it needs and a validity it needs.
  const serverKeys: Record<string, Record<string, { minimum_valid_until_ts: number }>> = {};
  for (const n of names) serverKeys[n] = { [FARM_KEY_ID]: { minimum_valid_until_ts: minValidUntilTs } };
  return JSON.stringify({ server_keys: serverKeys });
}

function expectOk(answer: HttpAnswer, what: string): void {
  if (answer.status !== 200) throw new BenchFailure(`${what} answered ${answer.status}: ${answer.body.toString('utf8').slice(0, 300)}`);
}

/** The answer must hold one entry per server asked, in order, each signed by its origin and by the notary. */
export function checkQueryAnswer(answer: HttpAnswer, names: readonly string[], notaryName: string, what: string): void {
  expectOk(answer, what);
  const entries = (JSON.parse(answer.body.toString('utf8')) as { server_keys?: Array<Record<string, unknown>> }).server_keys;
  if (!Array.isArray(entries) || entries.length !== names.length) {
    throw new BenchFailure(`${what} returned ${Array.isArray(entries) ? entries.length : 'no'} server_keys entries, expected ${names.length}`);
  }
  entries.forEach((entry, i) => {
    const signatures = entry.signatures as Record<string, unknown> | undefined;
    if (entry.server_name !== names[i] || !signatures?.[names[i]] || !signatures?.[notaryName]) {
      throw new BenchFailure(`${what}: entry ${i} is not ${names[i]}'s response signed by it and by ${notaryName}`);
    }
  });
}

function summarizeSide(runs: ThroughputRun[], histograms: LatencyHistogram[], responseBytes: number): SideSummary {
  const merged = new LatencyHistogram();
  for (const h of histograms) merged.merge(h);
  const requests = runs.reduce((a, r) => a + r.requests, 0);
  const durationS = runs.reduce((a, r) => a + r.durationS, 0);
  const cpuS: Record<string, number> = {};
  for (const r of runs) for (const [label, s] of Object.entries(r.cpuS)) cpuS[label] = (cpuS[label] ?? 0) + s;
  const cpuUsPerRequest: Record<string, number> = {};
  const cpuPercent: Record<string, number> = {};
  for (const [label, s] of Object.entries(cpuS)) {
    cpuUsPerRequest[label] = requests > 0 ? round((s * 1e6) / requests, 1) : 0;
    cpuPercent[label] = durationS > 0 ? Math.round((s / durationS) * 100) : 0;
  }
  return {
    runs: runs.length,
    requests,
    durationS: round(durationS),
    requestsPerS: durationS > 0 ? Math.round(requests / durationS) : 0,
    latencyMs: merged.summary(),
    cpuUsPerRequest,
    cpuPercent,
    responseBytes,
  };
}

export async function runThroughput(ctx: BenchContext, notary: Deployment, gcLog: GcLog | undefined): Promise<ThroughputResult> {
  const { config, farm, say } = ctx;
  const api = notary.apis[0];
  const port = api.port!;
  const names = farm.names('c', CACHED_SERVERS);
  const notaryName = ctx.cluster.serverName;
  const minValidUntilTs = Date.now();

  // Warm the cache through the real path: one query makes the notary fetch every origin once.
  say(`throughput: warming the notary's cache with ${names.length} origins`);
  const warm = await request(port, 'POST', QUERY_PATH, postBody(names, minValidUntilTs));
  checkQueryAnswer(warm, names, notaryName, 'the warming POST /query');
  const warmed = (await farm.counts()).groups.c;
  if (warmed.fetches !== names.length) throw new BenchFailure(`warming made ${warmed.fetches} origin fetches for ${names.length} origins`);

  const bodies: Record<string, Buffer> = {};
  const answers: Record<string, Buffer> = {};
  const getPath = `${QUERY_PATH}/${encodeURIComponent(names[0])}`;
  const getAnswer = await request(port, 'GET', getPath);
  checkQueryAnswer(getAnswer, names.slice(0, 1), notaryName, 'GET /query/{server}');
  answers.get_query = getAnswer.body;
  const serverAnswer = await request(port, 'GET', SERVER_PATH);
  expectOk(serverAnswer, 'GET /server');
  answers.get_server = serverAnswer.body;
  for (const n of [1, 10, 100]) {
    const body = Buffer.from(postBody(names.slice(0, n), minValidUntilTs));
    const answer = await request(port, 'POST', QUERY_PATH, body);
    checkQueryAnswer(answer, names.slice(0, n), notaryName, `POST /query of ${n} cached servers`);
    bodies[`post_${n}`] = body;
    answers[`post_${n}`] = answer.body;
  }

  // The baseline answers each route with the notary's own bytes.
  const dir = path.join(ctx.workDir, 'throughput');
  fs.mkdirSync(dir, { recursive: true });
  const file = (name: string, data: Buffer) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, data);
    return f;
  };
  const routes: Record<string, string> = {
    [`GET ${getPath}`]: file('answer-get_query.json', answers.get_query),
    [`GET ${SERVER_PATH}`]: file('answer-get_server.json', answers.get_server),
  };
  // The load sends each body with the first server's timestamp made unique per request.
  const bodyFiles: Record<string, string> = {};
  const stamp = `"minimum_valid_until_ts":${minValidUntilTs}`;
  for (const n of [1, 10, 100]) {
    routes[`POST /post/${n}`] = file(`answer-post_${n}.json`, answers[`post_${n}`]);
    const template = bodies[`post_${n}`].toString('utf8').replace(stamp, `"minimum_valid_until_ts":${BODY_COUNTER}`);
    bodyFiles[`post_${n}`] = file(`request-post_${n}.json`, Buffer.from(template));
  }
  const routesFile = path.join(dir, 'routes.json');
  fs.writeFileSync(routesFile, JSON.stringify(routes));
  const baseline = await startBaseline(routesFile, ctx.cleanup, ctx.nodeArgs('baseline'));

  const target = async (name: string, p: number, method: 'GET' | 'POST', urlPath: string, bodyKey?: string): Promise<LoadTarget> => {
    const body = bodyKey === undefined ? undefined : bodies[bodyKey];
    return {
      name,
      port: p,
      method,
      path: urlPath,
      bodyFile: bodyKey === undefined ? undefined : bodyFiles[bodyKey],
      counterFrom: bodyKey === undefined ? undefined : minValidUntilTs,
      responseBytes: await responseWireBytes(p, method, urlPath, body),
    };
  };
  const pairs: PairDef[] = [
    {
      id: 'get_query',
      label: 'cache-hit GET /query/{server}',
      notary: await target('notary GET /query/{server}', port, 'GET', getPath),
      baseline: await target('baseline GET', baseline.port, 'GET', getPath),
    },
    {
      id: 'get_server',
      label: 'GET /server',
      notary: await target('notary GET /server', port, 'GET', SERVER_PATH),
      baseline: await target('baseline GET (/server bytes)', baseline.port, 'GET', SERVER_PATH),
    },
  ];
  for (const n of [1, 10, 100]) {
    pairs.push({
      id: `post_${n}` as PairId,
      label: `POST /query, ${n} cached server${n > 1 ? 's' : ''}`,
      notary: await target(`notary POST /query (${n})`, port, 'POST', QUERY_PATH, `post_${n}`),
      baseline: await target(`baseline POST (${n})`, baseline.port, 'POST', `/post/${n}`, `post_${n}`),
    });
  }
  const chosen = pairs.filter((p) => config.pairs.includes(p.id));
  const problems: string[] = [];
  for (const p of chosen) {
    if (p.notary.responseBytes !== p.baseline.responseBytes) {
      problems.push(`${p.label}: the notary's answers are ${p.notary.responseBytes} bytes on the wire, the baseline's ${p.baseline.responseBytes}: not the same bytes`);
    }
  }

  const load = { seconds: config.seconds, connections: config.connections, workDir: dir };
  if (config.warmupSeconds > 0) {
    say(`throughput: warming up each of ${chosen.length * 2} targets for ${config.warmupSeconds} s`);
    for (const p of chosen) {
      for (const t of [p.notary, p.baseline]) {
        await runWrk(t, { ...load, seconds: config.warmupSeconds });
        await sleep(PAUSE_BETWEEN_RUNS_MS);
      }
    }
  }

  const runs: ThroughputRun[] = [];
  const histograms = new Map<string, LatencyHistogram[]>();
  const processes = (side: Side) => ({ server: side === 'notary' ? api.pid : baseline.pid, redis: ctx.redis.pid });
  for (let round_ = 1; round_ <= config.rounds; round_++) {
    for (const p of chosen) {
      // A B in odd rounds, B A in even ones.
      const order: Side[] = round_ % 2 === 1 ? ['notary', 'baseline'] : ['baseline', 'notary'];
      for (const side of order) {
        const t = p[side];
        const before = side === 'notary' ? await scrapeMetrics(api.metricsPort) : undefined;
        await ctx.probe.reset();
        const meter = new CpuMeter(processes(side));
        const startUs = Number(process.hrtime.bigint() / 1000n);
        meter.start();
        const r = await runWrk(t, load);
        const cpuS = meter.stop();
        const endUs = Number(process.hrtime.bigint() / 1000n);
        const after = side === 'notary' ? await scrapeMetrics(api.metricsPort) : undefined;
        const run: ThroughputRun = {
          pair: p.id,
          side,
          round: round_,
          startedAt: new Date(r.startedAtMs).toISOString(),
          startUs,
          endUs,
          durationS: round(r.durationS, 3),
          requests: r.requests,
          requestsPerS: Math.round(r.requestsPerS),
          latencyMs: r.histogram.summary(),
          stall: checkStalls(r.histogram),
          cpuS: Object.fromEntries(Object.entries(cpuS).map(([k, v]) => [k, round(v, 2)])),
          notary: before && after ? processDiagnostics(before, after) : undefined,
          gcPauses: side === 'notary' && gcLog ? gcLog.between(r.startedAtMs, r.endedAtMs, api.label).slice(0, 5) : undefined,
          redis: await ctx.probe.slowMoments(),
          problems: loadProblems(t, r, config.connections),
        };
        runs.push(run);
        const key = `${p.id}/${side}`;
        histograms.set(key, [...(histograms.get(key) ?? []), r.histogram]);
        const stallNote = run.stall.stalled > 0 ? `  STALL: ${run.stall.stalled} request(s) over ${round(run.stall.thresholdMs)} ms, max ${round(run.stall.maxMs)} ms` : '';
        say(
          `throughput: round ${round_}/${config.rounds} ${t.name}: ${run.requestsPerS.toLocaleString('en-US')} req/s, ` +
            `p99 ${round(run.latencyMs.p99)} ms, max ${round(run.latencyMs.max)} ms${stallNote}`,
        );
        await sleep(PAUSE_BETWEEN_RUNS_MS);
      }
    }
  }
  await baseline.stop();

  const fetchedAfter = (await farm.counts()).groups.c.fetches;
  const results: PairResult[] = chosen.map((p) => {
    const side = (s: Side) => summarizeSide(runs.filter((r) => r.pair === p.id && r.side === s), histograms.get(`${p.id}/${s}`) ?? [], p[s].responseBytes);
    const n = side('notary');
    const b = side('baseline');
    const roundRatios: number[] = [];
    for (let r = 1; r <= config.rounds; r++) {
      const a = runs.find((x) => x.pair === p.id && x.side === 'notary' && x.round === r);
      const c = runs.find((x) => x.pair === p.id && x.side === 'baseline' && x.round === r);
      if (a && c && c.requestsPerS > 0) roundRatios.push(round(a.requestsPerS / c.requestsPerS, 3));
    }
    return {
      id: p.id,
      label: p.label,
      notary: n,
      baseline: b,
      ratio: b.requestsPerS > 0 ? round(n.requestsPerS / b.requestsPerS, 3) : 0,
      roundRatios,
      p99Ratio: b.latencyMs.p99 > 0 ? round(n.latencyMs.p99 / b.latencyMs.p99, 3) : 0,
    };
  });
  for (const r of runs) for (const problem of r.problems) problems.push(`${r.pair} ${r.side}, round ${r.round}: ${problem}`);
  const originFetchesDuringLoad = fetchedAfter - warmed.fetches;
  if (originFetchesDuringLoad !== 0) problems.push(`the origins were fetched ${originFetchesDuringLoad} times during the load: not a pure cache-hit measurement`);
  return {
    connections: config.connections,
    secondsPerRun: config.seconds,
    rounds: config.rounds,
    bodies: {
      queryAnswerBytes: answers.get_query.length,
      serverAnswerBytes: answers.get_server.length,
      post100AnswerBytes: answers.post_100.length,
      post100RequestBytes: bodies.post_100.length,
    },
    pairs: results,
    runs,
    originFetchesDuringLoad,
    problems,
  };
}
