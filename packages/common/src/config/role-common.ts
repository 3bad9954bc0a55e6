/** What the split roles' configurations read alike. */
import type { VariableReader } from './read';

/** How a missing variable that `npm start` fills in for you is explained to split-role users. */
export const SPLIT_ROLE_HINT = 'set it for split roles (npm start / `matrix-notary all` fills it in for you)';

export interface MetricsListenerConfig {
  metricsPort: number;
  /** NOTARY_METRICS_BIND, or NOTARY_BIND when unset. */
  metricsBind: string;
}

export function readMetricsListener(reader: VariableReader): MetricsListenerConfig {
  return {
    metricsPort: reader.optional('NOTARY_METRICS_PORT') as number,
    metricsBind: reader.optional('NOTARY_METRICS_BIND') ?? (reader.optional('NOTARY_BIND') as string),
  };
}
