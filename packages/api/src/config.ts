/** The api role's configuration, read from the environment and validated at start. */
import { readMetricsListener, readRedisSettings, readSignerToken, SPLIT_ROLE_HINT, type RedisSettings, type VariableReader } from '@matrix-notary/common';

export interface ApiConfig {
  serverName: string;
  port: number;
  bind: string;
  metricsPort: number;
  metricsBind: string;
  redis: RedisSettings;
  redisPrefix: string;
  signerUrl: string;
  signerToken: string;
  fetchWaitMs: number;
  maxBodyBytes: number;
  maxServersPerQuery: number;
  maxKeysPerServer: number;
  /** Bound on waiting refresh jobs, so a flood of queries cannot grow the queue without limit. */
  maxQueuedFetches: number;
  /** Who a request is from, and how much it may ask (DESIGN behaviour 9). */
  clients: ClientLimitsConfig;
  /** NOTARY_BANNED_KEYS_FILE: stored responses holding one of its keys are never served. */
  bannedKeysFile?: string;
  logLevel: string;
}

export interface ClientLimitsConfig {
  /** CIDRs of load balancers whose X-Forwarded-For is believed. */
  trustedProxies: string[];
  /** CIDRs exempt from both limits. */
  unlimited: string[];
  /** 0: no request limit. */
  requestsPerS: number;
  burst: number;
  /** 0: no limit on new origins. */
  newOriginsPerMin: number;
}

/** Reads the variables the api uses; `reader.done()` is the caller's, so roles can be combined. */
export function readApiConfig(reader: VariableReader): ApiConfig {
  return {
    serverName: reader.required('NOTARY_SERVER_NAME', SPLIT_ROLE_HINT),
    port: reader.optional('NOTARY_PORT') as number,
    bind: reader.optional('NOTARY_BIND') as string,
    ...readMetricsListener(reader, 'NOTARY_BIND'),
    redis: readRedisSettings(reader),
    redisPrefix: reader.optional('NOTARY_REDIS_PREFIX') as string,
    signerUrl: reader.optional('NOTARY_SIGNER_URL') as string,
    signerToken: readSignerToken(reader),
    fetchWaitMs: reader.optional('NOTARY_FETCH_WAIT_MS') as number,
    maxBodyBytes: reader.optional('NOTARY_MAX_BODY_BYTES') as number,
    maxServersPerQuery: reader.optional('NOTARY_MAX_SERVERS_PER_QUERY') as number,
    maxKeysPerServer: reader.optional('NOTARY_MAX_KEYS_PER_SERVER') as number,
    maxQueuedFetches: 10_000,
    clients: {
      trustedProxies: reader.optional('NOTARY_TRUSTED_PROXIES') as string[],
      unlimited: reader.optional('NOTARY_UNLIMITED_CLIENTS') as string[],
      requestsPerS: reader.optional('NOTARY_CLIENT_REQUESTS_PER_S') as number,
      burst: reader.optional('NOTARY_CLIENT_BURST') as number,
      newOriginsPerMin: reader.optional('NOTARY_CLIENT_NEW_ORIGINS_PER_MIN') as number,
    },
    bannedKeysFile: reader.optional('NOTARY_BANNED_KEYS_FILE'),
    logLevel: reader.optional('NOTARY_LOG_LEVEL') as string,
  };
}
