/** The worker role's configuration, read from the environment and validated at start. */
import {
  readMetricsListener,
  readOriginFetchSettings,
  readRedisSettings,
  readSignerToken,
  SPLIT_ROLE_HINT,
  type OriginFetchSettings,
  type RedisSettings,
  type VariableReader,
} from '@matrix-notary/common';

export interface WorkerConfig {
  serverName: string;
  redis: RedisSettings;
  redisPrefix: string;
  signerUrl: string;
  signerToken: string;
  metricsPort: number;
  metricsBind: string;
  /** How origins are reached: address policy, CAs, resolvers, time and size limits. */
  origin: OriginFetchSettings;
  originMinIntervalMs: number;
  originMaxBackoffMs: number;
  minKeyValidityMs: number;
  /** NOTARY_BANNED_KEYS_FILE: responses holding one of its keys are refused. */
  bannedKeysFile?: string;
  /** Refresh jobs one worker process runs at once. */
  concurrency: number;
  logLevel: string;
}

export function readWorkerConfig(reader: VariableReader): WorkerConfig {
  return {
    serverName: reader.required('NOTARY_SERVER_NAME', SPLIT_ROLE_HINT),
    redis: readRedisSettings(reader),
    redisPrefix: reader.optional('NOTARY_REDIS_PREFIX') as string,
    signerUrl: reader.optional('NOTARY_SIGNER_URL') as string,
    signerToken: readSignerToken(reader),
    ...readMetricsListener(reader, 'loopback'),
    origin: readOriginFetchSettings(reader),
    originMinIntervalMs: reader.optional('NOTARY_ORIGIN_MIN_INTERVAL_S') as number,
    originMaxBackoffMs: reader.optional('NOTARY_ORIGIN_MAX_BACKOFF_S') as number,
    minKeyValidityMs: reader.optional('NOTARY_MIN_KEY_VALIDITY_S') as number,
    bannedKeysFile: reader.optional('NOTARY_BANNED_KEYS_FILE'),
    concurrency: 32,
    logLevel: reader.optional('NOTARY_LOG_LEVEL') as string,
  };
}
