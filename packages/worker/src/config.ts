/** The worker role's configuration, read from the environment and validated at start. */
import { isIP } from 'node:net';
import { createAddressPolicy, isForbiddenAddress } from '@matrix-notary/federation';
import {
  readMetricsListener,
  readOriginFetchSettings,
  readUpstreamNotaries,
  readRedisSettings,
  readSignerToken,
  SPLIT_ROLE_HINT,
  type OriginFetchSettings,
  type RedisSettings,
  type UpstreamNotary,
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
  /** NOTARY_UPSTREAM_NOTARIES_FILE: asked when an origin cannot be reached and nothing is held for it. */
  upstreamNotaries: UpstreamNotary[];
  /** Refresh jobs one worker process runs at once. */
  concurrency: number;
  logLevel: string;
}

export function readWorkerConfig(reader: VariableReader): WorkerConfig {
  const serverName = reader.required('NOTARY_SERVER_NAME', SPLIT_ROLE_HINT);
  const origin = readOriginFetchSettings(reader);
  const upstreamNotaries = readUpstreamNotaries(reader, serverName);
  if (reader.ok) checkUpstreamAddresses(upstreamNotaries, origin, reader);
  return {
    serverName,
    redis: readRedisSettings(reader),
    redisPrefix: reader.optional('NOTARY_REDIS_PREFIX') as string,
    signerUrl: reader.optional('NOTARY_SIGNER_URL') as string,
    signerToken: readSignerToken(reader),
    ...readMetricsListener(reader, 'loopback'),
    origin,
    originMinIntervalMs: reader.optional('NOTARY_ORIGIN_MIN_INTERVAL_S') as number,
    originMaxBackoffMs: reader.optional('NOTARY_ORIGIN_MAX_BACKOFF_S') as number,
    minKeyValidityMs: reader.optional('NOTARY_MIN_KEY_VALIDITY_S') as number,
    bannedKeysFile: reader.optional('NOTARY_BANNED_KEYS_FILE'),
    upstreamNotaries,
    concurrency: 32,
    logLevel: reader.optional('NOTARY_LOG_LEVEL') as string,
  };
}

/**
 * Upstream notaries are reached under the origins' address policy (the connection is checked
 * where it is made, whatever a DNS name resolves to). An upstream written as an IP literal the
 * policy forbids could never be asked: that is a configuration mistake, said at start.
 */
function checkUpstreamAddresses(upstreams: UpstreamNotary[], origin: OriginFetchSettings, reader: VariableReader): void {
  const policy = createAddressPolicy(origin);
  for (const upstream of upstreams) {
    const host = new URL(upstream.url).hostname.replace(/^\[(.*)\]$/, '$1');
    if (isIP(host) !== 0 && isForbiddenAddress(host, policy)) {
      reader.problem(
        `NOTARY_UPSTREAM_NOTARIES_FILE: the URL of ${upstream.serverName} is on ${host}, an address the notary refuses to connect to: ` +
          'list it in NOTARY_ALLOWED_ADDRESSES (upstreams are held to the same address policy as origins)',
      );
    }
  }
}
