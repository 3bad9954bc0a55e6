/**
 * Load through the balancer, every answer checked: an entry is wrong when it belongs to a server
 * not asked for, or when its origin's signature or the notary's does not verify. A request
 * failed when it got no 200, or when a server known to be stored was missing from the answer.
 * Figures per phase: sent, failed, wrong, the longest gap between two good answers.
 */
import https from 'node:https';
import { keyPairFromSeed, verifyJsonSignature } from '@matrix-notary/protocol';
import { readSigningKeyFile, signingKeyId } from '@matrix-notary/signer';
import type { FakeOrigin } from '@matrix-notary/testing';
import { NOTARY_NAME, type NotaryCluster } from './topology';

/** What one phase of a scenario saw. */
export interface PhaseFigures {
  phase: string;
  sent: number;
  failed: number;
  wrong: number;
  /** Longest time (ms) without a good answer, the phase's start and end included. */
  longestGapMs: number;
  /** First few failure reasons, for the report. */
  failures: string[];
  wrongs: string[];
}

interface Answer {
  status: number;
  body?: { server_keys?: Array<Record<string, unknown>> };
  error?: string;
}

export class Checker {
  private readonly verdicts = new Map<string, string | null>();
  private notaryKeyId = '';
  private notaryPublic!: Uint8Array;

  private constructor(private readonly origins: Map<string, FakeOrigin>) {}

  static async create(cluster: NotaryCluster): Promise<Checker> {
    const checker = new Checker(new Map());
    const { key } = await readSigningKeyFile(cluster.keyFile);
    checker.notaryKeyId = signingKeyId(key);
    checker.notaryPublic = keyPairFromSeed(key.seed).publicKey;
    return checker;
  }

  know(origin: FakeOrigin): void {
    this.origins.set(origin.serverName, origin);
  }

  /** null when the entry is right, else why it is wrong. Each distinct entry is verified once. */
  judge(entry: Record<string, unknown>, asked: readonly string[]): string | null {
    const text = JSON.stringify(entry);
    const cached = this.verdicts.get(text);
    if (cached !== undefined) return cached;
    const name = String(entry.server_name);
    let verdict: string | null = null;
    const origin = this.origins.get(name);
    if (!asked.includes(name) || !origin) verdict = `an entry for ${name}, which was not asked for`;
    else if (!origin.current.some((k) => verifyJsonSignature(entry, name, k.keyId, k.pair.publicKey))) verdict = `${name}: the origin's signature does not verify`;
    else if (!verifyJsonSignature(entry, NOTARY_NAME, this.notaryKeyId, this.notaryPublic)) verdict = `${name}: the notary's signature does not verify`;
    if (this.verdicts.size < 10_000) this.verdicts.set(text, verdict);
    return verdict;
  }
}

/** HTTPS through the balancer with keep-alive connections, trusting the test CA. */
export class BalancerClient {
  private readonly agent: https.Agent;

  constructor(
    private readonly port: number,
    ca: string,
    maxSockets: number,
  ) {
    this.agent = new https.Agent({ keepAlive: true, maxSockets, ca });
  }

  query(serverNames: readonly string[], timeoutMs = 20_000): Promise<Answer> {
    const body = JSON.stringify({ server_keys: Object.fromEntries(serverNames.map((n) => [n, {}])) });
    return new Promise((resolve) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port: this.port,
          servername: NOTARY_NAME,
          method: 'POST',
          path: '/_matrix/key/v2/query',
          agent: this.agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            try {
              resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Answer['body'] });
            } catch {
              resolve({ status: res.statusCode ?? 0, error: `not JSON: ${text.slice(0, 100)}` });
            }
          });
          res.on('error', (err) => resolve({ status: 0, error: err.message }));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', (err) => resolve({ status: 0, error: err.message }));
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Counts and checks the answers of one phase. */
export class Phase {
  private readonly started = Date.now();
  private lastGood = this.started;
  private readonly figures: PhaseFigures;
  private ended = false;

  constructor(
    name: string,
    private readonly checker: Checker,
  ) {
    this.figures = { phase: name, sent: 0, failed: 0, wrong: 0, longestGapMs: 0, failures: [], wrongs: [] };
  }

  /**
   * Records one answer. `mustHold`: servers known to be stored, which a good answer holds.
   * Returns the servers answered with a right entry.
   */
  record(asked: readonly string[], mustHold: readonly string[], answer: Answer): string[] {
    if (this.ended) return [];
    this.figures.sent++;
    const answered: string[] = [];
    let wrong = false;
    for (const entry of answer.body?.server_keys ?? []) {
      const why = this.checker.judge(entry, asked);
      if (why === null) answered.push(String(entry.server_name));
      else {
        wrong = true;
        if (this.figures.wrongs.length < 5) this.figures.wrongs.push(why);
      }
    }
    const missing = mustHold.filter((n) => !answered.includes(n));
    if (wrong) this.figures.wrong++;
    if (answer.status !== 200 || missing.length > 0) {
      this.figures.failed++;
      if (this.figures.failures.length < 5) {
        this.figures.failures.push(answer.status !== 200 ? `HTTP ${answer.status} ${answer.error ?? JSON.stringify(answer.body).slice(0, 120)}` : `missing ${missing.join(',')}`);
      }
    } else if (!wrong) {
      const now = Date.now();
      this.figures.longestGapMs = Math.max(this.figures.longestGapMs, now - this.lastGood);
      this.lastGood = now;
    }
    return answered;
  }

  end(): PhaseFigures {
    if (!this.ended) {
      this.ended = true;
      this.figures.longestGapMs = Math.max(this.figures.longestGapMs, Date.now() - this.lastGood);
    }
    return { ...this.figures };
  }
}

/**
 * Background load: `concurrency` loops, each sending a query for two stored origins at its share
 * of `ratePerS`, recording into whatever phase is current. Bounded: it stops on `stop()`.
 */
export class SteadyLoad {
  private running = true;
  private readonly loops: Promise<void>[] = [];
  phase: Phase;

  constructor(
    private readonly client: BalancerClient,
    private readonly stored: () => readonly string[],
    firstPhase: Phase,
    concurrency: number,
    ratePerS: number,
  ) {
    this.phase = firstPhase;
    const intervalMs = (1000 * concurrency) / ratePerS;
    for (let i = 0; i < concurrency; i++) this.loops.push(this.loop(i, intervalMs));
  }

  private async loop(offset: number, intervalMs: number): Promise<void> {
    let n = offset;
    while (this.running) {
      const next = Date.now() + intervalMs;
      const names = this.stored();
      const asked = [names[n % names.length], names[(n + 1) % names.length]];
      n += 2;
      const phase = this.phase;
      phase.record(asked, asked, await this.client.query(asked));
      const wait = next - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

/** One line per phase and one per origin group, in the suite's output. */
export function report(scenario: string, phases: PhaseFigures[], extra: Record<string, string | number>): void {
  const lines = [`\n=== test:cluster ${scenario} ===`];
  for (const p of phases) {
    lines.push(
      `  ${p.phase.padEnd(34)} sent ${String(p.sent).padStart(5)}  failed ${String(p.failed).padStart(3)}  wrong ${p.wrong}  longest gap ${(p.longestGapMs / 1000).toFixed(2)} s` +
        (p.failures.length > 0 ? `\n      failures: ${p.failures.join(' | ')}` : '') +
        (p.wrongs.length > 0 ? `\n      WRONG: ${p.wrongs.join(' | ')}` : ''),
    );
  }
  for (const [k, v] of Object.entries(extra)) lines.push(`  ${k}: ${v}`);
  process.stdout.write(lines.join('\n') + '\n');
}

/** "n origins fetched once, m twice..." from the origins' own request counts. */
export function fetchesPerOrigin(origins: readonly FakeOrigin[]): string {
  const counts = new Map<number, number>();
  for (const o of origins) counts.set(o.fetches, (counts.get(o.fetches) ?? 0) + 1);
  return [...counts.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([fetches, n]) => `${n} origin${n === 1 ? '' : 's'} × ${fetches} fetch${fetches === 1 ? '' : 'es'}`)
    .join(', ');
}

/**
 * What every cluster scenario does around its faults: a client through the balancer, a checker of
 * every answer, the phases and figures it reports, the first fetch of the origins it keeps asking
 * for, and a steady load over them. `finish` stops the load and prints the report.
 */
export class Scenario {
  readonly phases: PhaseFigures[] = [];
  readonly figures: Record<string, string | number> = {};
  load?: SteadyLoad;

  private constructor(
    readonly checker: Checker,
    readonly client: BalancerClient,
  ) {}

  static async start(cluster: NotaryCluster, clientConnections: number): Promise<Scenario> {
    const checker = await Checker.create(cluster);
    return new Scenario(checker, new BalancerClient(cluster.balancerPort, cluster.ca.caPem, clientConnections));
  }

  /** Asks for every origin once, as the phase 'warm-up: first fetch of each origin'. */
  async warmUp(origins: readonly FakeOrigin[]): Promise<void> {
    const names = origins.map((o) => o.serverName);
    const warm = new Phase('warm-up: first fetch of each origin', this.checker);
    warm.record(names, names, await this.client.query(names));
    this.phases.push(warm.end());
  }

  /** Starts the steady load over `origins`, recording into a first phase of that name. */
  startLoad(origins: readonly FakeOrigin[], phase: string, concurrency: number, ratePerS: number): SteadyLoad {
    this.load = new SteadyLoad(this.client, () => origins.map((o) => o.serverName), new Phase(phase, this.checker), concurrency, ratePerS);
    return this.load;
  }

  /** Stops the load (its current phase counts, once), prints the report, closes the client. */
  async finish(title: string): Promise<void> {
    if (this.load) {
      await this.load.stop();
      const last = this.load.phase.end();
      if (!this.phases.some((p) => p.phase === last.phase)) this.phases.push(last);
    }
    report(title, this.phases, this.figures);
    this.client.close();
  }
}
