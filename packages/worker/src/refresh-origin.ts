/**
 * One refresh of one origin: claim the right to contact it (interval, backoff and single flight
 * shared across the cluster), fetch its keys, apply the notary's policy (DESIGN behaviour 5),
 * have the signer countersign, store atomically, and tell waiting api pods. Every failure the
 * origin caused is recorded as backoff, logged with its reason and counted; none of them touches
 * what is already stored.
 *
 * An origin that cannot be reached, and for which nothing is stored, may be learned from upstream
 * notaries (upstream-notaries.ts) before its failure is recorded: while this refresh still holds
 * its claim, and without touching its backoff.
 *
 * Faults lose nothing (behaviour 11): a job run again after its worker died holds its own claim
 * and fetches at once; when the signer is unavailable, a response already fetched is kept with the
 * job and countersigned on a later attempt, and no fetch is made while the signer is known to be
 * down, so an outage neither wastes nor repeats the origin's fetch.
 */
import type { Logger } from '@matrix-notary/common';
import { parseStrictJson, validateOriginKeyResponse, CanonicalJsonError, DuplicateMemberError, type BannedKeys } from '@matrix-notary/protocol';
import { SignerRefusedError, type NotarySigner } from '@matrix-notary/signer-client';
import type { FetchEventPublisher, FetchOutcome, KeyStore } from '@matrix-notary/store';
import { collisionRefusal, reportBindingChanges } from './binding-events';
import type { WorkerMetrics } from './metrics';
import type { SignerGate } from './signer-gate';
import type { UpstreamNotaries } from './upstream-notaries';

export interface OriginFetcher {
  fetchServerKeys(serverName: string, signal?: AbortSignal): Promise<{ body: Buffer }>;
}

/** Rejects with SignerRefusedError when the signer refuses the response, any other error when it cannot be asked. */
export type Countersigner = Pick<NotarySigner, 'countersign'>;

export interface RefreshPolicy {
  notaryServerName: string;
  minIntervalMs: number;
  maxBackoffMs: number;
  minKeyValidityMs: number;
  /** How long one refresh may take (origin timeout plus the signer's share): the fetch's lease. */
  fetchLeaseMs: number;
  /** NOTARY_BANNED_KEYS_FILE: a response holding one of these keys is refused. */
  bannedKeys?: BannedKeys;
}

export interface RefreshDeps {
  store: KeyStore;
  events: FetchEventPublisher;
  fetcher: OriginFetcher;
  signer: Countersigner;
  /** Whether the signer is believed up; no origin is fetched while it is known to be down. */
  gate: SignerGate;
  policy: RefreshPolicy;
  logger: Logger;
  metrics: WorkerMetrics;
  /** NOTARY_UPSTREAM_NOTARIES_FILE's notaries, when any are configured. */
  upstreams?: UpstreamNotaries;
  now?: () => number;
}

/** What a refresh job carries across its attempts. */
export interface RefreshAttempt {
  /** Who claims the origin: the job's ID, the same for every attempt and re-run of that job. */
  claimant: string;
  /** When the refresh was asked for; a fetch that ended since then answers it. */
  requestedAtMs?: number;
  /** An origin response fetched by an earlier attempt that could not be countersigned then. */
  kept?: Buffer;
  /** Keeps `body` for the next attempt (the job's data). */
  keep(body: Buffer): Promise<void>;
}

/**
 * Thrown when the refresh must be attempted again later (the signer is unavailable): the job
 * system retries it; nothing was lost and the origin's interval was not wasted.
 */
export class RefreshDeferred extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RefreshDeferred';
  }
}

export async function refreshOrigin(serverName: string, deps: RefreshDeps, attempt: RefreshAttempt): Promise<FetchOutcome> {
  const now = deps.now ?? Date.now;
  const { store, policy, logger, metrics } = deps;
  const log = logger.child({ origin: serverName });

  /** `told`: what waiting queries hear, when it is not the refresh's own outcome. */
  const finish = async (outcome: FetchOutcome, told: FetchOutcome = outcome): Promise<FetchOutcome> => {
    metrics.refreshes.inc({ outcome });
    await deps.events.publish(serverName, told);
    return outcome;
  };
  const refuse = async (reason: string, message: string, details: Record<string, unknown> = {}): Promise<FetchOutcome> => {
    metrics.refusals.inc({ reason });
    const { failures, waitMs } = await store.recordFailure(serverName, now(), policy.minIntervalMs, policy.maxBackoffMs);
    await store.noteProblem(serverName, now(), reason, message);
    log.warn({ reason, failures, retryInMs: waitMs, ...details }, `refused the origin's key response: ${message}`);
    return finish('refused');
  };

  if (serverName === policy.notaryServerName) return finish('skipped');

  let body = attempt.kept;
  if (body === undefined) {
    // No fetch while the signer is down: its result could not be stored, and fetching again
    // later would contact the origin twice.
    if (!(await deps.gate.ready())) {
      metrics.refreshes.inc({ outcome: 'deferred' });
      throw new RefreshDeferred('the signer is unavailable: the refresh waits for it');
    }
    const claim = await store.claimFetch(serverName, now(), attempt.claimant, attempt.requestedAtMs, policy.fetchLeaseMs);
    if (claim.superseded) return finish('skipped');
    if (!claim.allowed) {
      log.debug({ retryInMs: claim.waitMs }, 'origin contacted recently, backing off or being fetched; not fetching');
      return finish('skipped');
    }
    const started = now();
    const fetched = await deps.fetcher.fetchServerKeys(serverName).then(
      (r) => r.body,
      (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
    );
    metrics.fetchSeconds.observe((now() - started) / 1000);
    if (fetched instanceof Error) {
      // Still holding the claim: nobody else fetches the origin while upstreams are asked. Never
      // for a server whose discovery led to a forbidden address: such a name points the notary
      // at addresses it must not reach, and no upstream's copy makes it a server to vouch for.
      const forbidden = (fetched as { hitForbiddenAddress?: boolean }).hitForbiddenAddress === true;
      if (forbidden && deps.upstreams !== undefined) log.info('not asking upstream notaries: the origin\'s discovery led to an address the notary refuses');
      const learned = !forbidden && (await deps.upstreams?.learn(serverName)) === true;
      const reason = (fetched as { reason?: string }).reason ?? 'error';
      const { failures, waitMs } = await store.recordFailure(serverName, now(), policy.minIntervalMs, policy.maxBackoffMs);
      await store.noteProblem(serverName, now(), reason, fetched.message);
      // The federation client has logged the failure with its reason (once); this adds the backoff.
      log.debug({ reason, failures, retryInMs: waitMs }, 'origin fetch failed: backing off');
      return finish('failed', learned ? 'stored' : 'failed');
    }
    body = fetched;
  }

  let parsed: unknown;
  try {
    parsed = parseStrictJson(body.toString('utf8'));
  } catch (err) {
    // A repeated member name is MSC4499's "malformed": the parsers of different servers disagree on it.
    const reason = err instanceof DuplicateMemberError ? 'malformed' : err instanceof CanonicalJsonError ? 'not_canonical_json' : 'not_json';
    return refuse(reason, (err as Error).message);
  }
  // A kept response is judged again now: time has passed since it was fetched.
  const check = validateOriginKeyResponse(parsed, {
    serverName,
    nowMs: now(),
    minValidityMs: policy.minKeyValidityMs,
    bannedKeys: policy.bannedKeys,
  });
  if (!check.ok) return refuse(check.reason, check.message);

  let countersigned: Buffer;
  try {
    countersigned = await deps.signer.countersign(body);
    deps.gate.up();
  } catch (err) {
    // The signer itself refused the response (not an outage): the origin's fault, like any check.
    if (err instanceof SignerRefusedError) return refuse(err.reason, err.message);
    // Not the origin's fault: keep what it sent for the next attempt, let its interval run from
    // this fetch (it was contacted), count no failure against it, and tell waiting queries.
    deps.gate.down();
    if (attempt.kept === undefined) {
      await attempt.keep(body);
      await store.releaseClaim(serverName, now(), policy.minIntervalMs);
    }
    log.warn({ err: (err as Error).message }, 'the signer could not countersign: the fetched keys are kept and stored when it is back');
    metrics.refreshes.inc({ outcome: 'deferred' });
    await deps.events.publish(serverName, 'failed');
    throw new RefreshDeferred(`the signer could not countersign: ${(err as Error).message}`);
  }

  const stored = await store.storeResponse(
    serverName,
    countersigned,
    { validUntilTs: check.response.valid_until_ts, keys: check.keys },
    now(),
    policy.minIntervalMs,
  );
  if (!stored.stored) {
    metrics.keys.collisions.inc();
    const { message, details } = collisionRefusal(stored.collision);
    return refuse('collision', message, details);
  }
  reportBindingChanges(log, stored);
  log.info(
    { validUntilTs: check.response.valid_until_ts, keys: check.keyIds.length, newBindings: stored.bindingsAdded },
    'stored the origin\'s keys',
  );
  return finish('stored');
}
