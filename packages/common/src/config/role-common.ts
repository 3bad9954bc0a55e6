/** What the split roles' configurations read alike. */
import type { VariableReader } from './read';

/** How a missing variable that `npm start` fills in for you is explained to split-role users. */
export const SPLIT_ROLE_HINT = 'set it for split roles (npm start / `matrix-notary all` fills it in for you)';

export interface MetricsListenerConfig {
  metricsPort: number;
  /** NOTARY_METRICS_BIND, or the role's own listening address when unset. */
  metricsBind: string;
}

/**
 * Where a role's metrics listen unless NOTARY_METRICS_BIND says: beside the role's own listener.
 * The api's metrics are as reachable as the api (NOTARY_BIND); the signer's stay as private as
 * the signer (NOTARY_SIGNER_BIND); the worker, which listens for nothing else, keeps them on
 * loopback. Scraped from elsewhere (other hosts, Kubernetes), set NOTARY_METRICS_BIND.
 */
export type MetricsBindDefault = 'NOTARY_BIND' | 'NOTARY_SIGNER_BIND' | 'loopback';

export function readMetricsListener(reader: VariableReader, bindDefault: MetricsBindDefault): MetricsListenerConfig {
  const fallback = bindDefault === 'loopback' ? '127.0.0.1' : (reader.optional(bindDefault) as string);
  return {
    metricsPort: reader.optional('NOTARY_METRICS_PORT') as number,
    metricsBind: reader.optional('NOTARY_METRICS_BIND') ?? fallback,
  };
}
