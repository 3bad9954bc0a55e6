/**
 * One refresh of one origin: claim the right to contact it (interval and backoff shared across
 * the cluster), fetch its keys, apply the notary's policy (DESIGN behaviour 5), have the signer
 * countersign, store atomically, and tell waiting api pods. Every failure is recorded as backoff,
 * logged with its reason and counted; none of them touches what is already stored.
 */
import type { Logger } from '@matrix-notary/common';
import { parseStrictJson, validateOriginKeyResponse, CanonicalJsonError, DuplicateMemberError, type BannedKeys } from '@matrix-notary/protocol';
import type { FetchEventPublisher, FetchOutcome, KeyStore } from '@matrix-notary/store';
import { collisionRefusal, reportBindingChanges } from './binding-events';
import type { WorkerMetrics } from './metrics';

export interface OriginFetcher {
  fetchServerKeys(serverName: string, signal?: AbortSignal): Promise<{ body: Buffer }>;
}

export interface Countersigner {
  countersign(originResponseJson: Buffer): Promise<Buffer>;
}

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
  policy: RefreshPolicy;
  logger: Logger;
  metrics: WorkerMetrics;
  now?: () => number;
}

/** Thrown by a Countersigner when the signer itself refuses the response (not an outage). */
function isSignerRefusal(err: unknown): err is Error & { reason?: string } {
  return err instanceof Error && err.name === 'SignerRefusedError';
}

/** `requestedAtMs`: when the refresh was asked for; a fetch that ended since then answers it. */
export async function refreshOrigin(serverName: string, deps: RefreshDeps, requestedAtMs?: number): Promise<FetchOutcome> {
  const now = deps.now ?? Date.now;
  const { store, policy, logger, metrics } = deps;
  const log = logger.child({ origin: serverName });

  const finish = async (outcome: FetchOutcome): Promise<FetchOutcome> => {
    metrics.refreshes.inc({ outcome });
    await deps.events.publish(serverName, outcome);
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
  const claim = await store.claimFetch(serverName, now(), policy.minIntervalMs, requestedAtMs, policy.fetchLeaseMs);
  if (claim.superseded) return finish('skipped');
  if (!claim.allowed) {
    log.debug({ retryInMs: claim.waitMs }, 'origin contacted recently or backing off; not fetching');
    return finish('skipped');
  }

  let body: Buffer;
  const started = now();
  try {
    body = (await deps.fetcher.fetchServerKeys(serverName)).body;
  } catch (err) {
    const reason = (err as { reason?: string }).reason ?? 'error';
    const { failures, waitMs } = await store.recordFailure(serverName, now(), policy.minIntervalMs, policy.maxBackoffMs);
    await store.noteProblem(serverName, now(), reason, (err as Error).message);
    log.warn({ reason, failures, retryInMs: waitMs, err: (err as Error).message }, 'could not fetch the origin\'s keys');
    return finish('failed');
  } finally {
    metrics.fetchSeconds.observe((now() - started) / 1000);
  }

  let parsed: unknown;
  try {
    parsed = parseStrictJson(body.toString('utf8'));
  } catch (err) {
    // A repeated member name is MSC4499's "malformed": the parsers of different servers disagree on it.
    const reason = err instanceof DuplicateMemberError ? 'malformed' : err instanceof CanonicalJsonError ? 'not_canonical_json' : 'not_json';
    return refuse(reason, (err as Error).message);
  }
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
  } catch (err) {
    if (isSignerRefusal(err)) return refuse(err.reason ?? 'signer_refused', err.message);
    // The signer being down is not the origin's fault: no backoff beyond the claim's interval.
    log.error({ err: (err as Error).message }, 'the signer could not countersign; keys not stored');
    return finish('failed');
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
