/**
 * The load-generator check: on this machine, now, what does each generator cost per request?
 * wrk and autocannon (each its own process, same connections) load the bare baseline server in
 * turn, A B A B. A generator that needs a large share of a core takes it from the server it
 * measures (2 cores: server, Redis and generator share them), and caps the baseline first, which
 * flatters every ratio. The suite uses wrk; this shows why, in every run.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BenchContext } from '../context';
import { CpuMeter } from '../cpu';
import { responseWireBytes } from '../http-client';
import { runAutocannon, runWrk, type LoadTarget } from '../load';
import { setTimeout as sleep } from 'node:timers/promises';
import { startBaseline } from '../processes';
import { round } from '../stats';

const ROUNDS = 2;
/** About the size of a single-server answer. */
const BODY_BYTES = 450;

export interface GeneratorFigures {
  generator: 'wrk' | 'autocannon';
  runs: number;
  requestsPerS: number;
  /** CPU µs per request of the generator process, and of the server it loads. */
  loadgenUsPerRequest: number;
  serverUsPerRequest: number;
  /** Average share of one core the generator used, %. */
  loadgenCpuPercent: number;
}

export interface LoadgenCheck {
  seconds: number;
  connections: number;
  generators: GeneratorFigures[];
}

export async function runLoadgenCheck(ctx: BenchContext): Promise<LoadgenCheck> {
  const { config } = ctx;
  const dir = path.join(ctx.workDir, 'loadgen');
  fs.mkdirSync(dir, { recursive: true });
  const bodyFile = path.join(dir, 'answer.json');
  fs.writeFileSync(bodyFile, JSON.stringify({ server_keys: [{ filler: 'x'.repeat(BODY_BYTES - 32) }] }));
  const routesFile = path.join(dir, 'routes.json');
  fs.writeFileSync(routesFile, JSON.stringify({ 'GET /check': bodyFile }));
  const baseline = await startBaseline(routesFile, ctx.cleanup);
  const target: LoadTarget = { name: 'baseline GET', port: baseline.port, method: 'GET', path: '/check', responseBytes: await responseWireBytes(baseline.port, 'GET', '/check') };
  const opts = { seconds: config.loadgenCheckSeconds, connections: config.connections, workDir: dir };
  ctx.say(`load generators: wrk and autocannon against the bare server, ${ROUNDS} × ${config.loadgenCheckSeconds} s each`);
  const totals = new Map<string, { runs: number; requests: number; seconds: number; loadgen: number; server: number }>();
  for (let r = 0; r < ROUNDS; r++) {
    for (const generator of r % 2 === 0 ? (['wrk', 'autocannon'] as const) : (['autocannon', 'wrk'] as const)) {
      const meter = new CpuMeter({ server: baseline.pid });
      meter.start();
      const { requests, durationS } = generator === 'wrk' ? await runWrk(target, opts) : await runAutocannon(target, opts);
      const cpu = meter.stop();
      const t = totals.get(generator) ?? { runs: 0, requests: 0, seconds: 0, loadgen: 0, server: 0 };
      totals.set(generator, { runs: t.runs + 1, requests: t.requests + requests, seconds: t.seconds + durationS, loadgen: t.loadgen + (cpu.loadgen ?? 0), server: t.server + (cpu.server ?? 0) });
      await sleep(300);
    }
  }
  await baseline.stop();
  const generators: GeneratorFigures[] = (['wrk', 'autocannon'] as const).map((generator) => {
    const t = totals.get(generator)!;
    return {
      generator,
      runs: t.runs,
      requestsPerS: Math.round(t.requests / t.seconds),
      loadgenUsPerRequest: round((t.loadgen * 1e6) / t.requests, 1),
      serverUsPerRequest: round((t.server * 1e6) / t.requests, 1),
      loadgenCpuPercent: Math.round((t.loadgen / t.seconds) * 100),
    };
  });
  for (const g of generators) {
    ctx.say(`load generators: ${g.generator}: ${g.requestsPerS.toLocaleString('en-US')} req/s, ${g.loadgenUsPerRequest} µs CPU per request (${g.loadgenCpuPercent}% of a core)`);
  }
  return { seconds: config.loadgenCheckSeconds, connections: config.connections, generators };
}
