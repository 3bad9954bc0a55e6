/**
 * Asking upstream notaries (NOTARY_UPSTREAM_NOTARIES_FILE) for an origin's keys. The worker does
 * this only after its own fetch of the origin failed, only when the notary holds no response for
 * the origin at all, and still holding the origin's claim (so no other fetch of it runs meanwhile,
 * and its backoff is recorded as usual afterwards). Never about the notary's own name.
 *
 * Each upstream is asked in the order listed, all within one NOTARY_ORIGIN_TIMEOUT_MS, through the
 * federation client (the origins' address policy, CAs, connect timeout and size cap); the first
 * answer that passes every check (see upstream-answer.ts) is countersigned and stored.
 *
 * Each upstream has its own rate limit and backoff, across every worker (UpstreamLimits): at most
 * UPSTREAM_ASKS_PER_WINDOW asks per UPSTREAM_WINDOW_MS (the names asked about are chosen by
 * anonymous callers: an upstream must not be flooded through us), and after n failed asks in a
 * row none for min(UPSTREAM_FIRST_BACKOFF_MS × 2^(n−1), NOTARY_ORIGIN_MAX_BACKOFF_S). An ask failed
 * when the upstream could not be asked or its answer was not a notary answer signed by its pinned
 * key; any other answer (keys, nothing, an origin response refused on its merits) resets the count.
 * An upstream skipped for either reason is passed over for the next one listed.
 *
 * Bindings: MSC4499 calls bindings a notary learned from another notary provisional, and lets a
 * later direct fetch override them. The store keeps them so (store-response-1.lua): a learned
 * response is stored only for an origin with nothing stored, its key IDs are bound provisionally,
 * and the first response from the origin itself either confirms them or, giving one of them
 * another body, replaces the learned response and every provisional binding instead of being
 * refused as a collision. A key ID bound by the origin itself is never rebound by an upstream.
 * Why not bind for good: an upstream's answer is a second-hand copy, maybe an old one, and a
 * permanent binding from it could lock the origin out of its own key IDs here until an operator
 * ran `keys evict`. Why not leave it unbound: the keys served would then have no first-seen
 * protection against the next response.
 */
import type { Logger, UpstreamNotary } from '@matrix-notary/common';
import type { NotaryIdentity } from '@matrix-notary/keyring';
import { keyFingerprint, type BannedKeys } from '@matrix-notary/protocol';
import { SignerRefusedError, type NotarySigner } from '@matrix-notary/signer-client';
import type { KeyStore, UpstreamLimits } from '@matrix-notary/store';
import { collisionRefusal, reportBindingChanges } from './binding-events';
import type { UPSTREAM_OUTCOMES, WorkerMetrics } from './metrics';
import type { SignerGate } from './signer-gate';
import { checkUpstreamAnswer, upstreamIdentity } from './upstream-answer';

export const UPSTREAM_QUERY_PATH = '_matrix/key/v2/query';
/** Each upstream's rate limit: asks per window, across every worker. */
export const UPSTREAM_WINDOW_MS = 10_000;
export const UPSTREAM_ASKS_PER_WINDOW = 50;
/** The wait after an upstream's first failed ask; it doubles per failure in a row. */
export const UPSTREAM_FIRST_BACKOFF_MS = 10_000;
/** Refusals of an answer that are the upstream's own doing (not the origin response's): counted as failures. */
const UPSTREAM_FAULTS: ReadonlySet<string> = new Set(['bad_notary_signature', 'bad_answer', 'not_json', 'not_canonical_json']);

/** How an upstream was reached: FederationClient.postJson. */
export interface UpstreamPoster {
  postJson(url: URL, body: Buffer, signal?: AbortSignal): Promise<{ statusCode: number; body: Buffer }>;
}

/**
 * What one ask of one upstream came to (the `outcome` label of matrix_notary_upstream_queries_total):
 * stored (its answer passed every check and was stored); empty (it had nothing for the origin);
 * refused (its answer failed a check: its signature, the origin's, the policy); failed (it could
 * not be asked: address refused, connection, TLS, time, size, an HTTP status); not_stored (its
 * answer passed, but the signer was unavailable or a response was stored meanwhile); backing_off (not
 * asked: it failed lately); rate_limited (not asked: its asks of the current window are used up).
 */
export type UpstreamOutcome = (typeof UPSTREAM_OUTCOMES)[number];

export interface UpstreamPolicy {
  notaryServerName: string;
  minKeyValidityMs: number;
  bannedKeys?: BannedKeys;
  /** The whole round of asks, every upstream together (NOTARY_ORIGIN_TIMEOUT_MS). */
  timeoutMs: number;
}

export interface UpstreamDeps {
  upstreams: readonly UpstreamNotary[];
  poster: UpstreamPoster;
  store: KeyStore;
  /** Each upstream's rate limit and backoff, shared by every worker. */
  limits: UpstreamLimits;
  signer: Pick<NotarySigner, 'countersign'>;
  gate: SignerGate;
  policy: UpstreamPolicy;
  logger: Logger;
  metrics: WorkerMetrics;
  now?: () => number;
}

export class UpstreamNotaries {
  private readonly asked: ReadonlyArray<{ upstream: UpstreamNotary; identity: NotaryIdentity; url: URL }>;
  private readonly now: () => number;

  constructor(private readonly deps: UpstreamDeps) {
    this.asked = deps.upstreams.map((upstream) => ({ upstream, identity: upstreamIdentity(upstream), url: new URL(UPSTREAM_QUERY_PATH, upstream.url) }));
    this.now = deps.now ?? Date.now;
  }

  /**
   * Called after a failed fetch of `serverName`, with its claim held. Returns true when an
   * upstream's answer was stored.
   */
  async learn(serverName: string): Promise<boolean> {
    const { store, policy } = this.deps;
    if (serverName === policy.notaryServerName || this.asked.length === 0) return false;
    if (await store.holdsResponse(serverName)) return false;
    const signal = AbortSignal.timeout(policy.timeoutMs);
    const body = Buffer.from(JSON.stringify({ server_keys: { [serverName]: {} } }));
    for (const target of this.asked) {
      if (signal.aborted) break;
      const name = target.upstream.serverName;
      const permit = await this.deps.limits.permit(name, this.now());
      if (!permit.allowed) {
        this.deps.metrics.upstreamQueries.inc({ outcome: permit.why });
        this.deps.logger.debug({ origin: serverName, upstream: name, retryInMs: permit.waitMs }, `not asking the upstream notary now (${permit.why})`);
        continue;
      }
      const { outcome, failed } = await this.ask(serverName, target, body, signal);
      if (outcome !== 'not_stored') await this.deps.limits.record(name, this.now(), failed);
      this.deps.metrics.upstreamQueries.inc({ outcome });
      if (outcome === 'stored') return true;
      if (outcome === 'not_stored') return false; // another upstream would meet the same obstacle
    }
    return false;
  }

  private async ask(
    serverName: string,
    { upstream, identity, url }: { upstream: UpstreamNotary; identity: NotaryIdentity; url: URL },
    body: Buffer,
    signal: AbortSignal,
  ): Promise<{ outcome: UpstreamOutcome; failed: boolean }> {
    const { store, policy, signer, gate } = this.deps;
    const log = this.deps.logger.child({ origin: serverName, upstream: upstream.serverName });
    let answer: { statusCode: number; body: Buffer };
    try {
      answer = await this.deps.poster.postJson(url, body, signal);
    } catch (err) {
      if (signal.aborted) {
        // The round's time is up (whichever of the two timers noticed first).
        log.warn({ reason: 'timeout' }, `the upstream notary did not answer within ${policy.timeoutMs} ms (NOTARY_ORIGIN_TIMEOUT_MS)`);
        return { outcome: 'failed', failed: true };
      }
      const reason = (err as { reason?: string }).reason ?? 'error';
      log.warn({ reason }, `could not ask the upstream notary: ${(err as Error).message}`);
      return { outcome: 'failed', failed: true };
    }
    if (answer.statusCode !== 200) {
      log.warn({ reason: 'http_status', status: answer.statusCode }, `the upstream notary answered HTTP ${answer.statusCode}`);
      return { outcome: 'failed', failed: true };
    }
    const check = checkUpstreamAnswer(answer.body, identity, {
      serverName,
      nowMs: this.now(),
      minValidityMs: policy.minKeyValidityMs,
      bannedKeys: policy.bannedKeys,
    });
    if (check.outcome === 'empty') {
      log.info('the upstream notary holds no keys for the origin');
      return { outcome: 'empty', failed: false };
    }
    if (check.outcome === 'refused') {
      log.warn({ reason: check.reason }, `refused the upstream notary's answer: ${check.message}`);
      return { outcome: 'refused', failed: UPSTREAM_FAULTS.has(check.reason) };
    }
    let countersigned: Buffer;
    try {
      countersigned = await signer.countersign(check.bytes);
      gate.up();
    } catch (err) {
      if (err instanceof SignerRefusedError) {
        log.warn({ reason: err.reason }, `the signer refused the upstream notary's answer: ${err.message}`);
        return { outcome: 'refused', failed: false };
      }
      gate.down();
      log.warn({ err: (err as Error).message }, "the signer could not countersign the upstream notary's answer: not stored");
      return { outcome: 'not_stored', failed: false };
    }
    const stored = await store.storeLearnedResponse(
      serverName,
      countersigned,
      { validUntilTs: check.response.valid_until_ts, keys: check.keys },
      this.now(),
      upstream.serverName,
    );
    if (!stored.stored) {
      if ('held' in stored) log.info('a response of the origin was stored meanwhile: the upstream notary\'s answer is not needed');
      else log.warn(collisionRefusal(stored.collision).details, 'the upstream notary\'s answer gives a bound key ID another key: not stored');
      return { outcome: 'not_stored', failed: false };
    }
    reportBindingChanges(log, stored);
    log.info(
      {
        validUntilTs: check.response.valid_until_ts,
        keys: check.keyIds.length,
        keySha256: check.keys.slice(0, 20).map((k) => keyFingerprint(k.body)),
      },
      "the origin could not be reached: stored its keys as the upstream notary gave them (provisional bindings until the origin itself confirms them)",
    );
    return { outcome: 'stored', failed: false };
  }
}
