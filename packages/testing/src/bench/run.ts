/**
 * `npm run bench`: the notary's cache-hit path measured against a bare node:http server serving
 * the same bytes, side by side in one run, interleaved so machine noise hits both. Prints a table
 * and writes it as JSON to .bench/results-<timestamp>.json. A measurement, not a test: it exits 0
 * whatever the ratios, and non-zero only when the run itself is broken (a notary answer was not
 * 200 with the expected bytes, a process would not start, ...).
 *
 * Settings: BENCH_SECONDS (per run, default 10), BENCH_ROUNDS (default 2), BENCH_CONNECTIONS
 * (default 50), BENCH_WARMUP_SECONDS (default 2), BENCH_CPU_PROF=1 (profile the notary child).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { FakeOrigin } from '../origin';
import { createTestCa } from '../tls';
import { Cleanup } from './cleanup';
import { BenchConfigError, readBenchConfig, type BenchConfig } from './config';
import { BenchFailure } from './errors';
import { runLoad, stopCurrentLoad, type MicrosHistogram, type RunResult, type Target } from './load';
import { startBaseline, startNotary, startRedis, stopChild } from './processes';
import { formatProfileSummary, summarizeCpuProfile, type ProfileSummary } from './profile';
import { formatRounds, formatTable, summarize, type ScenarioSummary } from './report';

const REPO_ROOT = path.resolve(__dirname, '../../../..');
const NOTARY_SERVER_NAME = 'notary.bench';
/** DESIGN.md, performance budget: a cache hit at ≥ 0.75× bare node:http serving the same bytes. */
const GOAL_RATIO = 0.75;
const QUERY_PATH = '/_matrix/key/v2/query';
const SERVER_PATH = '/_matrix/key/v2/server';
const PAUSE_BETWEEN_RUNS_MS = 500;

const BASELINE = 'baseline node:http GET';
const BASELINE_POST = 'baseline node:http POST';
const NOTARY_GET = 'notary GET /query/{origin}';
const NOTARY_POST = 'notary POST /query';
const NOTARY_SERVER = 'notary GET /server';

/** The bare-server scenario a scenario is compared with; undefined for the baselines themselves. */
function baselineOf(name: string): string | undefined {
  if (name === BASELINE || name === BASELINE_POST) return undefined;
  return name === NOTARY_POST ? BASELINE_POST : BASELINE;
}

interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function request(port: number, method: 'GET' | 'POST', urlPath: string, body?: string): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: urlPath,
        agent: false,
        timeout: 30_000,
        headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath} got no answer within 30 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

function expectOk(answer: HttpAnswer, what: string): void {
  if (answer.status !== 200) {
    throw new BenchFailure(`${what} answered ${answer.status}: ${answer.body.toString('utf8').slice(0, 300)}`);
  }
  if (answer.headers['content-type'] !== 'application/json') {
    throw new BenchFailure(`${what} answered with content-type ${answer.headers['content-type']}, not application/json`);
  }
}

/** The warmed answer must hold exactly one entry: the origin's response, countersigned by the notary. */
function checkQueryAnswer(answer: HttpAnswer, originName: string, what: string): void {
  expectOk(answer, what);
  const parsed = JSON.parse(answer.body.toString('utf8')) as { server_keys?: Array<Record<string, unknown>> };
  const entries = parsed.server_keys;
  if (!Array.isArray(entries) || entries.length !== 1) {
    throw new BenchFailure(`${what} returned ${Array.isArray(entries) ? entries.length : 'no'} server_keys entries, expected 1: ${answer.body.toString('utf8').slice(0, 300)}`);
  }
  const entry = entries[0];
  const signatures = entry.signatures as Record<string, unknown> | undefined;
  if (entry.server_name !== originName || !signatures?.[originName] || !signatures?.[NOTARY_SERVER_NAME]) {
    throw new BenchFailure(`${what} returned an entry that is not ${originName}'s response signed by it and by ${NOTARY_SERVER_NAME}`);
  }
}

function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function checkRun(run: RunResult): string[] {
  const problems: string[] = [];
  if (run.requests === 0) problems.push('no request completed');
  if (run.non2xx > 0) problems.push(`${run.non2xx} answers were not 2xx (status codes: ${JSON.stringify(run.statusCodes)})`);
  if (run.errors > 0 || run.timeouts > 0) problems.push(`${run.errors} connection errors, ${run.timeouts} timeouts`);
  if (run.mismatches > 0) problems.push(`${run.mismatches} answers differed from the warmed bytes`);
  return problems.map((p) => `${run.name}, round ${run.round}: ${p}`);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function bench(config: BenchConfig, cleanup: Cleanup): Promise<number> {
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const outDir = path.join(REPO_ROOT, '.bench');
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'notary-bench-'));
  cleanup.dir(tmpDir);
  const loadBefore = os.loadavg();

  process.stdout.write(`bench: ${config.rounds} round(s) of ${config.seconds} s per scenario, ${config.connections} connections, warm-up ${config.warmupSeconds} s\n`);

  // The test CA signs the fake origin's certificate; the notary trusts it through a file.
  const ca = await createTestCa('matrix-notary bench CA');
  const caFile = path.join(tmpDir, 'federation-ca.pem');
  fs.writeFileSync(caFile, ca.caPem);
  const origin = await FakeOrigin.start({ ca });
  cleanup.add('stop the fake origin', () => origin.stop());

  const redisDir = path.join(tmpDir, 'redis');
  fs.mkdirSync(redisDir);
  const redis = await startRedis(redisDir, cleanup);
  const profileDir = config.cpuProfile ? path.join(outDir, `profile-${stamp}`) : undefined;
  const profileArgs = (who: string) => (profileDir ? ['--cpu-prof', `--cpu-prof-dir=${path.join(profileDir, who)}`] : []);
  const notary = await startNotary(
    {
      repoRoot: REPO_ROOT,
      redisUrl: redis.url,
      tmpDir,
      caFile,
      serverName: NOTARY_SERVER_NAME,
      nodeArgs: profileArgs('notary'),
    },
    cleanup,
  );

  // Warm the cache: one query makes the notary fetch the origin and store its countersigned answer.
  const getPath = `${QUERY_PATH}/${encodeURIComponent(origin.serverName)}`;
  const postBody = JSON.stringify({ server_keys: { [origin.serverName]: {} } });
  const warmed = await request(notary.port, 'POST', QUERY_PATH, postBody);
  checkQueryAnswer(warmed, origin.serverName, 'the warming POST /query');
  if (origin.fetches !== 1) throw new BenchFailure(`the warming query made ${origin.fetches} fetches from the origin, expected 1`);
  const getAnswer = await request(notary.port, 'GET', getPath);
  checkQueryAnswer(getAnswer, origin.serverName, 'GET /query/{origin}');
  const postAnswer = await request(notary.port, 'POST', QUERY_PATH, postBody);
  checkQueryAnswer(postAnswer, origin.serverName, 'POST /query (cached)');
  const serverAnswer = await request(notary.port, 'GET', SERVER_PATH);
  expectOk(serverAnswer, 'GET /server');
  if (origin.fetches !== 1) throw new BenchFailure(`cached queries fetched from the origin again (${origin.fetches} fetches): the cache-hit path is not what is measured`);

  const bodyFile = path.join(tmpDir, 'baseline-body.json');
  fs.writeFileSync(bodyFile, getAnswer.body);
  const baseline = await startBaseline(bodyFile, cleanup, profileArgs('baseline'));
  const baselineAnswer = await request(baseline.port, 'GET', getPath);
  if (!baselineAnswer.body.equals(getAnswer.body)) throw new BenchFailure('the baseline server does not serve the bytes the notary returned');

  const notaryProcesses = { server: notary.child.pid, redis: redis.child.pid };
  const targets: Record<string, Target> = {
    [BASELINE]: {
      name: BASELINE, port: baseline.port, method: 'GET', path: getPath, expectBody: getAnswer.body.toString('utf8'),
      processes: { server: baseline.child.pid, redis: redis.child.pid },
    },
    [BASELINE_POST]: {
      name: BASELINE_POST, port: baseline.port, method: 'POST', path: QUERY_PATH, body: postBody, expectBody: getAnswer.body.toString('utf8'),
      processes: { server: baseline.child.pid, redis: redis.child.pid },
    },
    [NOTARY_GET]: { name: NOTARY_GET, port: notary.port, method: 'GET', path: getPath, expectBody: getAnswer.body.toString('utf8'), processes: notaryProcesses },
    [NOTARY_POST]: {
      name: NOTARY_POST, port: notary.port, method: 'POST', path: QUERY_PATH, body: postBody, expectBody: postAnswer.body.toString('utf8'),
      processes: notaryProcesses,
    },
    [NOTARY_SERVER]: { name: NOTARY_SERVER, port: notary.port, method: 'GET', path: SERVER_PATH, expectBody: serverAnswer.body.toString('utf8'), processes: notaryProcesses },
  };
  const order = [BASELINE, BASELINE_POST, NOTARY_GET, NOTARY_POST, NOTARY_SERVER];

  if (config.warmupSeconds > 0) {
    process.stdout.write(`bench: warming up each scenario for ${config.warmupSeconds} s\n`);
    for (const name of order) {
      await runLoad(targets[name], { seconds: config.warmupSeconds, connections: config.connections }, 0);
      await sleep(PAUSE_BETWEEN_RUNS_MS);
    }
  }

  const runs: RunResult[] = [];
  const histograms = new Map<string, MicrosHistogram[]>(order.map((n) => [n, []]));
  for (let round = 1; round <= config.rounds; round++) {
    // Odd rounds go baseline first, even rounds baseline last, so a drift in machine load hits both.
    const roundOrder = round % 2 === 1 ? order : [...order].reverse();
    for (const name of roundOrder) {
      process.stdout.write(`bench: round ${round}/${config.rounds}: ${name} ...`);
      const { run, histogram } = await runLoad(targets[name], { seconds: config.seconds, connections: config.connections }, round);
      process.stdout.write(` ${Math.round(run.requestsPerS).toLocaleString('en-US')} req/s\n`);
      runs.push(run);
      histograms.get(name)!.push(histogram);
      await sleep(PAUSE_BETWEEN_RUNS_MS);
    }
  }
  const originFetchesDuringLoad = origin.fetches - 1;

  const scenarios: ScenarioSummary[] = order.map((name) => summarize(name, runs.filter((r) => r.name === name), histograms.get(name)!));
  // Each notary scenario is compared with the bare server doing the same kind of request: POST
  // against the baseline that reads a POST body, the GETs against the GET baseline.
  const byName = new Map(scenarios.map((s) => [s.name, s]));
  for (const s of scenarios) {
    const baseName = baselineOf(s.name);
    if (baseName === undefined) continue;
    const base = byName.get(baseName)!;
    s.ratioToBaseline = base.requestsPerS > 0 ? Math.round((s.requestsPerS / base.requestsPerS) * 1000) / 1000 : 0;
  }
  const getRatio = scenarios.find((s) => s.name === NOTARY_GET)!.ratioToBaseline ?? 0;
  const goalMet = getRatio >= GOAL_RATIO;

  const profiles: ProfileSummary[] = [];
  if (profileDir) {
    // A profile is written when its process exits.
    await Promise.all([stopChild(notary.child), stopChild(baseline.child)]);
    for (const who of ['baseline', 'notary']) {
      const dir = path.join(profileDir, who);
      const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')) : [];
      if (files.length === 0) {
        process.stderr.write(`bench: no .cpuprofile was written to ${dir}\n`);
        continue;
      }
      const file = path.join(dir, files.sort().at(-1)!);
      for (const name of order.filter((n) => (who === 'baseline') === (n === BASELINE || n === BASELINE_POST))) {
        const scenarioRuns = runs.filter((r) => r.name === name);
        profiles.push(summarizeCpuProfile(file, name, scenarioRuns, scenarioRuns.reduce((acc, r) => acc + r.requests, 0)));
      }
    }
  }

  const problems = runs.flatMap(checkRun);
  if (originFetchesDuringLoad !== 0) problems.push(`the origin was fetched ${originFetchesDuringLoad} times during the load: not a pure cache-hit measurement`);

  const results = {
    startedAt: startedAt.toISOString(),
    command: `BENCH_SECONDS=${config.seconds} BENCH_ROUNDS=${config.rounds} BENCH_CONNECTIONS=${config.connections}${config.cpuProfile ? ' BENCH_CPU_PROF=1' : ''} npm run bench`,
    config,
    machine: {
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      loadAverageBefore: loadBefore.map((n) => Math.round(n * 100) / 100),
      loadAverageAfter: os.loadavg().map((n) => Math.round(n * 100) / 100),
    },
    commit: gitCommit(),
    loadGenerator: `autocannon ${(require('autocannon/package.json') as { version: string }).version}, in the bench process; servers are child processes`,
    bodies: {
      queryBytes: getAnswer.body.length,
      postAnswerSameBytesAsGet: postAnswer.body.equals(getAnswer.body),
      serverBytes: serverAnswer.body.length,
    },
    goal: { scenario: NOTARY_GET, ratio: getRatio, goal: GOAL_RATIO, met: goalMet },
    scenarios,
    runs,
    originFetchesDuringLoad,
    problems,
    profiles,
  };
  fs.mkdirSync(outDir, { recursive: true });
  const outFile = path.join(outDir, `results-${stamp}.json`);
  fs.writeFileSync(outFile, `${JSON.stringify(results, null, 2)}\n`);

  const out: string[] = [''];
  out.push(`response bodies: query ${getAnswer.body.length} B (GET and POST answers ${results.bodies.postAnswerSameBytesAsGet ? 'identical' : 'DIFFER'}), /server ${serverAnswer.body.length} B`);
  out.push(`"x base" = req/s / the baseline doing the same kind of request (GET, or POST with its body read; all rounds pooled); cpu/req = CPU time per request and average % of one core during the runs;`);
  out.push(`"other load" = CPU the rest of the machine used meanwhile (% of one core, ${os.cpus().length} cores): high values mean a noisy measurement`);
  out.push('');
  out.push(formatTable(scenarios));
  out.push('');
  out.push('per round:');
  out.push(formatRounds(runs, baselineOf));
  out.push('');
  const loadgenBase = byName.get(BASELINE)!.cpuPercent.loadgen;
  if (loadgenBase !== undefined && loadgenBase >= 90) {
    out.push(`note: the load generator used ${loadgenBase}% of a core during the baseline runs: it may be what limits the baseline, so the ratios may flatter the notary; compare server cpu/req too`);
  }
  out.push(`goal (cache-hit GET >= ${GOAL_RATIO}x bare node:http): ${goalMet ? 'MET' : 'NOT MET'} (${getRatio.toFixed(2)}x)`);
  out.push(`results written to ${path.relative(process.cwd(), outFile) || outFile}`);
  if (profiles.length > 0) {
    out.push('');
    out.push('CPU profiles (sampled by wall clock: a syscall such as writev also carries time its process waited for a core):');
    for (const profile of profiles) {
      out.push('');
      out.push(formatProfileSummary(profile.scenario === BASELINE || profile.scenario === BASELINE_POST ? 'baseline' : 'notary', profile));
    }
  }
  process.stdout.write(`${out.join('\n')}\n`);

  if (problems.length > 0) {
    process.stderr.write(`\nbench FAILED: the measurement is not valid:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
    if (runs.some((r) => r.name !== BASELINE && r.non2xx > 0)) process.stderr.write(`notary output (last lines):\n${notary.output()}\n`);
    return 1;
  }
  return 0;
}

async function main(): Promise<void> {
  let config: BenchConfig;
  try {
    config = readBenchConfig(process.env);
  } catch (err) {
    if (!(err instanceof BenchConfigError)) throw err;
    process.stderr.write(`bench: ${err.message}\n`);
    process.exitCode = 2;
    return;
  }
  const cleanup = new Cleanup();
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\nbench: ${signal} received: stopping and cleaning up\n`);
    stopCurrentLoad();
    void cleanup.run().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let code: number;
  try {
    code = await bench(config, cleanup);
  } catch (err) {
    if (interrupted) return;
    process.stderr.write(`bench FAILED: ${err instanceof BenchFailure ? err.message : (err as Error)?.stack ?? String(err)}\n`);
    code = 1;
  }
  await cleanup.run();
  if (interrupted) return;
  process.exitCode = code;
  // Nothing should be left, but a straggling handle must not keep the process alive.
  setTimeout(() => process.exit(code), 2000).unref();
}

void main();
