/** The worker role's configuration, read from the environment and validated at start. */
import fs from 'node:fs';
import { VariableReader } from '@matrix-notary/common';

export interface WorkerConfig {
  serverName: string;
  redisUrl: string;
  redisPrefix: string;
  signerUrl: string;
  signerToken: string;
  metricsPort: number;
  metricsBind: string;
  allowPrivateAddresses: boolean;
  allowedAddresses: string[];
  originMinIntervalMs: number;
  originMaxBackoffMs: number;
  minKeyValidityMs: number;
  originConnectTimeoutMs: number;
  originTimeoutMs: number;
  maxOriginResponseBytes: number;
  /** Contents of NOTARY_FEDERATION_CA_FILE, read at start. */
  federationCaPem?: string;
  dnsServers: string[];
  /** Refresh jobs one worker process runs at once. */
  concurrency: number;
  logLevel: string;
}

const SPLIT_ROLE_HINT = 'set it for split roles (npm start / `matrix-notary all` fills it in for you)';

export function readWorkerConfig(reader: VariableReader): WorkerConfig {
  const caFile = reader.optional('NOTARY_FEDERATION_CA_FILE');
  let federationCaPem: string | undefined;
  if (caFile !== undefined) {
    try {
      federationCaPem = fs.readFileSync(caFile, 'utf8');
      if (!federationCaPem.includes('-----BEGIN CERTIFICATE-----')) {
        reader.problem(`NOTARY_FEDERATION_CA_FILE ${caFile} holds no PEM certificate`);
      }
    } catch (err) {
      reader.problem(`NOTARY_FEDERATION_CA_FILE ${caFile} cannot be read: ${(err as Error).message}`);
    }
  }
  return {
    serverName: reader.required('NOTARY_SERVER_NAME', SPLIT_ROLE_HINT),
    redisUrl: reader.optional('REDIS_URL') as string,
    redisPrefix: reader.optional('NOTARY_REDIS_PREFIX') as string,
    signerUrl: reader.optional('NOTARY_SIGNER_URL') as string,
    signerToken: reader.required('NOTARY_SIGNER_TOKEN', SPLIT_ROLE_HINT),
    metricsPort: reader.optional('NOTARY_METRICS_PORT') as number,
    metricsBind: reader.optional('NOTARY_METRICS_BIND') ?? (reader.optional('NOTARY_BIND') as string),
    allowPrivateAddresses: reader.optional('NOTARY_ALLOW_PRIVATE_ADDRESSES') as boolean,
    allowedAddresses: reader.optional('NOTARY_ALLOWED_ADDRESSES') as string[],
    originMinIntervalMs: reader.optional('NOTARY_ORIGIN_MIN_INTERVAL_S') as number,
    originMaxBackoffMs: reader.optional('NOTARY_ORIGIN_MAX_BACKOFF_S') as number,
    minKeyValidityMs: reader.optional('NOTARY_MIN_KEY_VALIDITY_S') as number,
    originConnectTimeoutMs: reader.optional('NOTARY_ORIGIN_CONNECT_TIMEOUT_MS') as number,
    originTimeoutMs: reader.optional('NOTARY_ORIGIN_TIMEOUT_MS') as number,
    maxOriginResponseBytes: reader.optional('NOTARY_MAX_ORIGIN_RESPONSE_BYTES') as number,
    federationCaPem,
    dnsServers: reader.optional('NOTARY_DNS_SERVERS') ?? [],
    concurrency: 32,
    logLevel: reader.optional('NOTARY_LOG_LEVEL') as string,
  };
}

export function loadWorkerConfig(env: NodeJS.ProcessEnv): WorkerConfig {
  const reader = new VariableReader(env);
  const config = readWorkerConfig(reader);
  reader.done();
  return config;
}
