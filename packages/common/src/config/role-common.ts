/** What the split roles' configurations read alike. */
import fs from 'node:fs';
import type { VariableReader } from './read';
import { readSecretFile } from './redis';
import { VARIABLES } from './variables';

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

/**
 * The signer's bearer token: NOTARY_SIGNER_TOKEN, or the content of NOTARY_SIGNER_TOKEN_FILE (a
 * mounted Secret), held to the same rules. Exactly one of the two must be set.
 */
export function readSignerToken(
  reader: VariableReader,
  readFile: (path: string) => string = (p) => fs.readFileSync(p, 'utf8'),
): string {
  const file = reader.optional('NOTARY_SIGNER_TOKEN_FILE');
  if (file === undefined) {
    return reader.required('NOTARY_SIGNER_TOKEN', `${SPLIT_ROLE_HINT}, or put it in a file named by NOTARY_SIGNER_TOKEN_FILE`);
  }
  if (reader.isSet('NOTARY_SIGNER_TOKEN')) {
    reader.problem('NOTARY_SIGNER_TOKEN and NOTARY_SIGNER_TOKEN_FILE are both set: set only one');
    return '';
  }
  const text = readSecretFile(file, readFile, (p) => reader.problem(`NOTARY_SIGNER_TOKEN_FILE ${p}`));
  if (text === undefined) return '';
  const parsed = VARIABLES.NOTARY_SIGNER_TOKEN.schema.safeParse(text);
  if (!parsed.success) {
    // The token is not echoed; only what is wrong with it.
    reader.problem(`NOTARY_SIGNER_TOKEN_FILE ${file}: the token ${parsed.error.issues.map((i) => i.message).join('; ')}`);
    return '';
  }
  return parsed.data;
}
