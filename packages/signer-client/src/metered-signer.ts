/**
 * The api's and worker's view of their signer, counted and timed: how many own-key and
 * countersign calls succeeded, were refused or found no signer, and how long they took. What the
 * signer role counts on its side is matrix_notary_signer_operations_total; these are the callers'.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import { SignerRefusedError } from './errors';
import type { NotarySigner, OwnKeys } from './notary-signer';

export const SIGNER_REQUESTS_METRIC = 'matrix_notary_signer_requests_total';
export const SIGNER_REQUEST_DURATION_METRIC = 'matrix_notary_signer_request_duration_seconds';

type Operation = 'own_keys' | 'countersign';

function metrics(registry: Registry): { requests: Counter<'operation' | 'outcome'>; duration: Histogram<'operation'> } {
  // api and worker share one registry in `all`: one set of metrics for both.
  const requests =
    (registry.getSingleMetric(SIGNER_REQUESTS_METRIC) as Counter<'operation' | 'outcome'> | undefined) ??
    new Counter({
      name: SIGNER_REQUESTS_METRIC,
      help: 'Calls to the signer from this role, by operation (own_keys, countersign) and outcome (ok, refused, unavailable)',
      labelNames: ['operation', 'outcome'],
      registers: [registry],
    });
  const duration =
    (registry.getSingleMetric(SIGNER_REQUEST_DURATION_METRIC) as Histogram<'operation'> | undefined) ??
    new Histogram({
      name: SIGNER_REQUEST_DURATION_METRIC,
      help: 'Time of calls to the signer from this role, by operation',
      labelNames: ['operation'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [registry],
    });
  return { requests, duration };
}

export function meterSigner<S extends Pick<NotarySigner, 'ownKeys' | 'countersign'>>(signer: S, registry: Registry): S {
  const { requests, duration } = metrics(registry);
  const timed = async <T>(operation: Operation, call: () => Promise<T>): Promise<T> => {
    const end = duration.startTimer({ operation });
    try {
      const result = await call();
      requests.inc({ operation, outcome: 'ok' });
      return result;
    } catch (err) {
      requests.inc({ operation, outcome: err instanceof SignerRefusedError ? 'refused' : 'unavailable' });
      throw err;
    } finally {
      end();
    }
  };
  return Object.assign(Object.create(signer) as S, {
    ownKeys: (): Promise<OwnKeys> => timed('own_keys', () => signer.ownKeys()),
    countersign: (body: Buffer): Promise<Buffer> => timed('countersign', () => signer.countersign(body)),
  });
}
