/**
 * `npm run bench`: the performance suite of issue 13. Prints its plan, starts its own parts
 * (redis-server, an origin farm of HTTPS origins behind a test DNS server, the notary as
 * `matrix-notary all` and as split roles, a bare node:http baseline), runs each scenario, and
 * writes bench/results/latest.json, docs/benchmarks.md and docs/benchmarks.svg. A measurement,
 * not a test: it exits 0 whatever the verdicts, and non-zero only when the run itself is not a
 * valid measurement (an answer was wrong, a process would not start, ...). Settings: config.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateSigningKeyFile } from '@matrix-notary/signer';
import { randomBytes } from 'node:crypto';
import { createTestCa } from '../tls';
import { Cleanup } from './cleanup';
import { BenchConfigError, configWarnings, readBenchConfig, type BenchConfig } from './config';
import type { BenchContext } from './context';
import { startAllInOne, startSplit } from './deployments';
import { BenchFailure } from './errors';
import { GcLog } from './gc-trace';
import { stopCurrentLoad } from './load';
import { OriginFarm } from './origin-farm-client';
import { RedisProbe } from './probes';
import { formatPlan, planRun } from './plan';
import { startRedis } from './processes';
import { summarizeProfiles } from './profile-windows';
import { buildResults, type BenchResults } from './results';
import { renderConsole } from './report';
import { REPO_ROOT, writeDocs } from './render';
import { ensureTools, LoadSampler, machineFacts } from './machine';
import { runLoadgenCheck } from './scenarios/loadgen';
import { idleRss, MemoryScenario } from './scenarios/memory';
import { runRefresh } from './scenarios/refresh';
import { runStampede } from './scenarios/stampede';
import { CACHED_SERVERS, runThroughput } from './scenarios/throughput';

export const NOTARY_SERVER_NAME = 'notary.bench.test';
const FARM_ZONE = 'bench.test';

async function bench(config: BenchConfig, cleanup: Cleanup): Promise<number> {
  const started = new Date();
  const plan = planRun(config);
  process.stdout.write(`${formatPlan(plan, config)}\n`);
  for (const w of configWarnings(config)) process.stdout.write(`bench: note: ${w}\n`);
  const tools = ensureTools((line) => process.stdout.write(`bench: ${line}\n`));
  const machineBefore = machineFacts();

  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'notary-bench-'));
  cleanup.dir(workDir);
  const resultsDir = path.join(REPO_ROOT, 'bench/results');
  const profileRoot = config.cpuProfile ? path.join(resultsDir, `profile-${started.toISOString().replace(/[:.]/g, '-')}`) : undefined;
  const say = (line: string) => process.stdout.write(`bench: ${line}\n`);
  const gcLog = config.traceGc ? new GcLog() : undefined;

  say('starting redis-server, the origin farm and its DNS server');
  const ca = await createTestCa('matrix-notary bench CA');
  const caFile = path.join(workDir, 'federation-ca.pem');
  fs.writeFileSync(caFile, ca.caPem);
  const signingKeyFile = path.join(workDir, 'signing.key');
  fs.writeFileSync(signingKeyFile, generateSigningKeyFile(), { mode: 0o600 });
  const redisDir = path.join(workDir, 'redis');
  fs.mkdirSync(redisDir);
  const redis = await startRedis(redisDir, cleanup);
  const probe = new RedisProbe(redis.url);
  cleanup.add('close the Redis probe', () => probe.close());
  const want = (s: BenchConfig['scenarios'][number]) => config.scenarios.includes(s);
  const farm = await OriginFarm.start(ca, FARM_ZONE, [
    { prefix: 'c', count: want('throughput') ? CACHED_SERVERS : 0, delayMs: 0 },
    { prefix: 's', count: want('stampede') ? config.stampedeOrigins : 0, delayMs: config.originLatencyMs },
    { prefix: 'r', count: want('refresh') ? config.refreshOrigins : 0, delayMs: 0 },
    { prefix: 'h', count: want('refresh') ? config.refreshOrigins : 0, delayMs: 0 },
  ], cleanup);

  const ctx: BenchContext = {
    config,
    cleanup,
    repoRoot: REPO_ROOT,
    workDir,
    profileRoot,
    redis,
    probe,
    farm,
    cluster: {
      redisUrl: redis.url,
      serverName: NOTARY_SERVER_NAME,
      signingKeyFile,
      signerToken: randomBytes(24).toString('base64url'),
      caFile,
      dnsServers: farm.resolver,
    },
    say,
    nodeArgs: (label) => [
      ...(profileRoot ? ['--cpu-prof', `--cpu-prof-dir=${path.join(profileRoot, label)}`] : []),
      ...(gcLog && label !== 'baseline' ? ['--trace-gc'] : []),
    ],
    onNotaryLine: (label, line) => gcLog?.line(label, line),
  };
  const deploymentOptions = {
    repoRoot: REPO_ROOT,
    workDir,
    cluster: ctx.cluster,
    cleanup,
    nodeArgs: ctx.nodeArgs,
    onLine: ctx.onNotaryLine,
  };

  const partial: Partial<BenchResults['scenarios']> = {};
  const loadSampler = new LoadSampler();

  if (want('loadgen')) partial.loadgen = await runLoadgenCheck(ctx);

  if (want('throughput') || want('refresh')) {
    say('starting the notary: matrix-notary all');
    const all = await startAllInOne('bench-all', deploymentOptions);
    if (want('throughput')) partial.throughput = await runThroughput(ctx, all, gcLog);
    if (want('refresh')) partial.refreshInProcess = await runRefresh(ctx, all, 'r', 'in-process signer (matrix-notary all)');
    await all.stop();
  }

  if (want('refresh') || want('stampede') || want('memory')) {
    say('starting the notary as split roles: signer, worker, api1, api2');
    const split = await startSplit('bench-split', 2, deploymentOptions);
    // Memory first: idle before anything was asked, the stored servers alone under the prefix.
    const memory = want('memory') ? new MemoryScenario(ctx, split, await idleRss(ctx, split)) : undefined;
    if (memory) {
      await memory.seed();
      await memory.queryCached();
    }
    if (want('refresh')) partial.refreshOverHttp = await runRefresh(ctx, split, 'h', 'signer over HTTP (split roles)');
    if (want('stampede')) partial.stampede = await runStampede(ctx, split);
    // Unknown servers last: the worker is busy with them (and backs them off) for a while.
    if (memory) {
      await memory.queryUnknown();
      partial.memory = memory.measured;
    }
    await split.stop();
  }

  const profiles = profileRoot ? summarizeProfiles(profileRoot, partial) : [];
  const results = buildResults({
    config,
    plan,
    started,
    finished: new Date(),
    machineBefore,
    machineAfter: machineFacts(),
    load1Samples: loadSampler.stop(),
    tools,
    scenarios: partial,
    profiles,
    repoRoot: REPO_ROOT,
  });
  fs.mkdirSync(resultsDir, { recursive: true });
  const latest = path.join(resultsDir, 'latest.json');
  fs.writeFileSync(latest, `${JSON.stringify(results, null, 2)}\n`);
  writeDocs(results, path.relative(REPO_ROOT, latest));
  process.stdout.write(`\n${renderConsole(results)}\n`);
  say(`results: ${path.relative(process.cwd(), latest)}; report: docs/benchmarks.md and docs/benchmarks.svg`);

  if (results.problems.length > 0) {
    process.stderr.write(`\nbench FAILED: the measurement is not valid:\n${results.problems.map((p) => `  - ${p}`).join('\n')}\n`);
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
