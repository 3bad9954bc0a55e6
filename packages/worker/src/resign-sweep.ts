/**
 * Re-signing stored responses after the notary's signing keys changed (a rotation: an extra key
 * added, swapped with the current one, or dropped). Every countersigned response in Redis was
 * signed by the keys the signer had when it was stored; until the origin is fetched again it would
 * be served with those signatures alone, and a homeserver that pinned only the new key would
 * refuse it. The sweep brings every stored response to the signer's key set, in the background:
 *
 * - The signer's key set is read from its own key response (`verify_keys`) when the worker starts
 *   and every CHECK_INTERVAL_MS after; its tag (key IDs and public keys, sorted) is compared with
 *   the tag the last completed sweep reached, kept in Redis for the whole cluster. Equal: nothing
 *   to do (a restart of every worker costs one GET each).
 * - Otherwise one worker (a Redis lock with an expiry, renewed per batch) walks every origin record
 *   (SCAN, BATCH_SIZE records at a time), and each stored response — the latest and the older ones
 *   still answering for some key ID — whose notary signatures are not exactly the signer's key IDs
 *   is given to the signer to countersign again. The signer checks the origin's self-signature
 *   again (an expired response stays re-signable: validity is the worker's policy, not the
 *   signer's) and replaces the notary's signatures; the new bytes are written back by a Lua step
 *   that replaces them only if the response is still stored exactly as read, leaving its header,
 *   bindings and fetch state as they are. A response stored meanwhile was countersigned by the
 *   current signer already.
 * - Pacing: one signer call at a time, and after each batch a pause as long as the batch took, so
 *   the sweep takes at most half of one worker's time and never more than one of the signer's
 *   requests: refresh jobs keep their pace.
 * - A sweep stopped short (the signer unavailable, its key set changed again, the lock lost, the
 *   worker stopping) records nothing; the next check starts it over, and what was re-signed is
 *   then found up to date at the cost of a parse.
 *
 * Responses holding a banned key (NOTARY_BANNED_KEYS_FILE) are never served and are left alone.
 * The api pods' own copies of answers live HOT_ENTRY_TTL_MS (1 s) before Redis is read again.
 */
import { randomUUID } from 'node:crypto';
import { settleWithin, type Logger } from '@matrix-notary/common';
import type { BannedKeys } from '@matrix-notary/protocol';
import { SignerRefusedError } from '@matrix-notary/signer-client';
import type { StoredResponses } from '@matrix-notary/store';
import type { Counter } from 'prom-client';
import type { SignerGate } from './signer-gate';

/** How often each worker asks the signer for its key set. */
export const CHECK_INTERVAL_MS = 30_000;
/** Origin records per batch (SCAN's COUNT). */
export const BATCH_SIZE = 100;
/** The sweep's lock lives this long unrenewed: a worker that died mid-sweep frees it after this. */
export const LOCK_MS = 30_000;
/** Least pause between two batches. */
export const MIN_PAUSE_MS = 10;
/** Longest a worker's stop waits for a sweep to notice it. */
const STOP_WAIT_MS = 1000;

/**
 * What became of one stored response that needed re-signing (the `outcome` label of
 * matrix_notary_resigned_responses_total): resigned (written back); raced (replaced or dropped by
 * a store meanwhile: nothing written); refused (the signer refused it: logged); unavailable (the
 * signer could not be asked: the sweep stops and is tried again at the next check).
 */
export const RESIGN_OUTCOMES = ['resigned', 'raced', 'refused', 'unavailable'] as const;
export type ResignOutcome = (typeof RESIGN_OUTCOMES)[number];

export interface SweepReport {
  tag: string;
  complete: boolean;
  /** Why an incomplete sweep stopped. */
  stoppedBecause?: string;
  records: number;
  responses: number;
  upToDate: number;
  resigned: number;
  raced: number;
  refused: number;
  bannedLeftAlone: number;
  seconds: number;
}

export interface ResignDeps {
  responses: StoredResponses;
  signer: {
    ownKeys(): Promise<{ verifyKeys: Record<string, { key: string }> }>;
    countersign(originResponseJson: Buffer): Promise<Buffer>;
  };
  gate: SignerGate;
  notaryServerName: string;
  bannedKeys?: BannedKeys;
  logger: Logger;
  resigned: Counter<'outcome'>;
  checkIntervalMs?: number;
  batchSize?: number;
  /** The pause between batches (tests replace it); resolves early when `signal` aborts. */
  pause?: (ms: number, signal: AbortSignal) => Promise<void>;
  now?: () => number;
}

/** The signer's key set as one string: sorted `<key ID>=<public key>`, space-separated. */
export function keySetTag(verifyKeys: Record<string, { key: string }>): string {
  return Object.entries(verifyKeys)
    .map(([keyId, { key }]) => `${keyId}=${key}`)
    .sort()
    .join(' ');
}

/** The key IDs of the notary's signatures on countersigned bytes, sorted ([] when none or unreadable). */
export function notarySignatureKeyIds(bytes: Buffer, notaryServerName: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    return [];
  }
  const signatures = (value as { signatures?: Record<string, unknown> } | null)?.signatures;
  const own = signatures !== null && typeof signatures === 'object' ? signatures[notaryServerName] : undefined;
  return own !== null && typeof own === 'object' ? Object.keys(own).sort() : [];
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function defaultPause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

class SweepStopped extends Error {}

export class ResignSweeper {
  private readonly now: () => number;
  private readonly pause: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly stopping = new AbortController();
  /** The tag this worker knows every stored response has reached (no Redis read needed). */
  private reached?: string;
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(private readonly deps: ResignDeps) {
    this.now = deps.now ?? Date.now;
    this.pause = deps.pause ?? defaultPause;
    for (const outcome of RESIGN_OUTCOMES) deps.resigned.inc({ outcome }, 0);
  }

  /** Checks now, then every CHECK_INTERVAL_MS, in the background. */
  start(): void {
    const tick = (): void => {
      this.running = this.check()
        .catch((err: Error) => this.deps.logger.warn({ err: err.message }, 'could not check whether stored responses need re-signing; trying again later'))
        .finally(() => {
          if (!this.stopping.signal.aborted) this.timer = setTimeout(tick, this.deps.checkIntervalMs ?? CHECK_INTERVAL_MS).unref();
        });
    };
    tick();
  }

  /**
   * Stops a sweep under way (it records nothing) and waits for it, at most STOP_WAIT_MS: a signer
   * call in flight cannot be cut short, and a stop must not wait for its timeout (an unreleased
   * lock expires by itself).
   */
  async stop(): Promise<void> {
    this.stopping.abort();
    clearTimeout(this.timer);
    await settleWithin(this.running ?? Promise.resolve(), STOP_WAIT_MS);
  }

  /**
   * One check: reads the signer's key set and, when stored responses may lag behind it and no
   * other worker is at it, sweeps. Returns the sweep's report, or undefined when none ran.
   */
  async check(): Promise<SweepReport | undefined> {
    const { responses } = this.deps;
    let verifyKeys: Record<string, { key: string }>;
    try {
      ({ verifyKeys } = await this.deps.signer.ownKeys());
    } catch (err) {
      this.deps.logger.debug({ err: (err as Error).message }, 'the signer could not be asked for its key set; checking again later');
      return undefined;
    }
    const tag = keySetTag(verifyKeys);
    if (tag === this.reached) return undefined;
    if ((await responses.sweptTag()) === tag) {
      this.reached = tag;
      return undefined;
    }
    const token = randomUUID();
    if (!(await responses.lock(token, LOCK_MS))) return undefined; // another worker sweeps
    try {
      const report = await this.sweep(tag, Object.keys(verifyKeys).sort(), token);
      if (report.complete) {
        await responses.setSweptTag(tag);
        this.reached = tag;
      }
      return report;
    } finally {
      await responses.unlock(token).catch(() => undefined); // it expires by itself
    }
  }

  private async sweep(tag: string, keyIds: string[], token: string): Promise<SweepReport> {
    const { responses, signer, logger, notaryServerName, bannedKeys } = this.deps;
    const signal = this.stopping.signal;
    const started = this.now();
    const report: SweepReport = { tag, complete: false, records: 0, responses: 0, upToDate: 0, resigned: 0, raced: 0, refused: 0, bannedLeftAlone: 0, seconds: 0 };
    const count = (outcome: ResignOutcome): void => this.deps.resigned.inc({ outcome });
    logger.info({ keyIds }, 'the signing keys changed since stored responses were last re-signed: re-signing them in the background');
    try {
      for await (const batch of responses.recordKeys(this.deps.batchSize ?? BATCH_SIZE, signal)) {
        const batchStarted = this.now();
        for (const origin of await responses.read(batch)) {
          report.records++;
          for (const response of origin.responses) {
            if (signal.aborted) throw new SweepStopped('the worker is stopping');
            report.responses++;
            if (sameList(notarySignatureKeyIds(response.bytes, notaryServerName), keyIds)) {
              report.upToDate++;
              continue;
            }
            if (bannedKeys?.heldIn(origin.serverName, response.bytes)) {
              report.bannedLeftAlone++;
              continue;
            }
            let again: Buffer;
            try {
              again = await signer.countersign(response.bytes);
              this.deps.gate.up();
            } catch (err) {
              if (err instanceof SignerRefusedError) {
                count('refused');
                report.refused++;
                logger.warn({ origin: origin.serverName, responseId: response.id, err: (err as Error).message }, 'the signer refused to countersign a stored response again: it keeps its old signatures');
                continue;
              }
              count('unavailable');
              this.deps.gate.down();
              throw new SweepStopped(`the signer is unavailable: ${(err as Error).message}`);
            }
            if (!sameList(notarySignatureKeyIds(again, notaryServerName), keyIds)) {
              throw new SweepStopped("the signer's key set changed during the sweep");
            }
            if (await responses.replace(origin.recordKey, response, again)) {
              count('resigned');
              report.resigned++;
            } else {
              count('raced');
              report.raced++;
            }
          }
        }
        if (!(await responses.renewLock(token, LOCK_MS))) throw new SweepStopped('the sweep lock expired (a batch took longer than the lock lives)');
        await this.pause(Math.max(MIN_PAUSE_MS, this.now() - batchStarted), signal);
      }
      if (signal.aborted) throw new SweepStopped('the worker is stopping');
      report.complete = true;
    } catch (err) {
      if (!(err instanceof SweepStopped)) throw err;
      report.stoppedBecause = err.message;
    }
    report.seconds = (this.now() - started) / 1000;
    const { complete, stoppedBecause, tag: _tag, ...counts } = report;
    if (complete) logger.info({ keyIds, ...counts }, 'stored responses re-signed: every stored response now carries a signature by each signing key');
    else logger.warn({ keyIds, ...counts, reason: stoppedBecause }, 're-signing stored responses stopped before the end: it starts over at the next check');
    return report;
  }
}
