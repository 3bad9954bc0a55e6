/**
 * One refresh of one origin: claim the right to contact it (interval and backoff shared across
 * the cluster), fetch its keys, apply the notary's policy (DESIGN behaviour 5), have the signer
 * countersign, store atomically, and tell waiting api pods. Every failure is recorded as backoff,
 * logged with its reason and counted; none of them touches what is already stored.
 */
import type { Logger } from '@matrix-notary/common';
import { parseStrictJson, validateOriginKeyResponse, CanonicalJsonError } from '@matrix-notary/protocol';
import type { FetchEventPublisher, FetchOutcome, KeyStore } from '@matrix-notary/store';
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
  const refuse = async (reason: string, message: string): Promise<FetchOutcome> => {
    metrics.refusals.inc({ reason });
    const { failures, waitMs } = await store.recordFailure(serverName, now(), policy.minIntervalMs, policy.maxBackoffMs);
    log.warn({ reason, failures, retryInMs: waitMs }, `refused the origin's key response: ${message}`);
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
    // The federation client has logged the failure with its reason (once); this adds the backoff.
    log.debug({ reason, failures, retryInMs: waitMs }, 'origin fetch failed: backing off');
    return finish('failed');
  } finally {
    metrics.fetchSeconds.observe((now() - started) / 1000);
  }

  let parsed: unknown;
  try {
    parsed = parseStrictJson(body.toString('utf8'));
  } catch (err) {
    return refuse(err instanceof CanonicalJsonError ? 'not_canonical_json' : 'not_json', (err as Error).message);
  }
  const check = validateOriginKeyResponse(parsed, {
    serverName,
    nowMs: now(),
    minValidityMs: policy.minKeyValidityMs,
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

  await store.storeResponse(
    serverName,
    countersigned,
    check.response.valid_until_ts,
    check.keyIds,
    now(),
    policy.minIntervalMs,
  );
  log.info({ validUntilTs: check.response.valid_until_ts, keys: check.keyIds.length }, 'stored the origin\'s keys');
  return finish('stored');
}
