/**
 * The environment each notary role of the bench runs with (pure). Everything points at the
 * bench's own Redis, origin farm (its DNS server and CA) and loopback ports; the parent's NOTARY_*
 * variables never leak into a measured process.
 */

export interface ClusterSettings {
  redisUrl: string;
  /** NOTARY_REDIS_PREFIX: each deployment of the bench gets its own. */
  prefix: string;
  serverName: string;
  signingKeyFile: string;
  signerToken: string;
  caFile: string;
  /** NOTARY_DNS_SERVERS: the origin farm's DNS server. */
  dnsServers: string;
  /** Where split roles reach the signer. */
  signerUrl?: string;
}

export interface RolePorts {
  port?: number;
  metricsPort: number;
  signerPort?: number;
}

/**
 * Settings every bench deployment shares, and why:
 * - the origin farm is on 127.0.0.1, which the notary refuses unless allowed;
 * - the load generator is what a homeserver of the operator's is: a client listed in
 *   NOTARY_UNLIMITED_CLIENTS (one client doing tens of thousands of requests a second, and
 *   asking for thousands of origins it never asked for in the stampede, refresh and memory
 *   scenarios). What the limits cost a stranger's request (one Redis command) is not what the
 *   throughput pairs measure.
 */
export const BENCH_NOTARY_SETTINGS: Readonly<Record<string, string>> = {
  NOTARY_ALLOWED_ADDRESSES: '127.0.0.1/32',
  NOTARY_UNLIMITED_CLIENTS: '127.0.0.0/8',
  NOTARY_LOG_LEVEL: 'warn',
};

export function roleEnv(parent: NodeJS.ProcessEnv, cluster: ClusterSettings, ports: RolePorts, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(parent)) {
    if (!name.startsWith('NOTARY_') && !name.startsWith('REDIS_') && name !== 'NODE_OPTIONS') env[name] = value;
  }
  Object.assign(env, BENCH_NOTARY_SETTINGS, {
    NOTARY_BIND: '127.0.0.1',
    NOTARY_METRICS_BIND: '127.0.0.1',
    NOTARY_SIGNER_BIND: '127.0.0.1',
    NOTARY_METRICS_PORT: String(ports.metricsPort),
    REDIS_URL: cluster.redisUrl,
    NOTARY_REDIS_PREFIX: cluster.prefix,
    NOTARY_SERVER_NAME: cluster.serverName,
    NOTARY_SIGNING_KEY_FILE: cluster.signingKeyFile,
    NOTARY_SIGNER_TOKEN: cluster.signerToken,
    NOTARY_FEDERATION_CA_FILE: cluster.caFile,
    NOTARY_DNS_SERVERS: cluster.dnsServers,
  });
  if (ports.port !== undefined) env.NOTARY_PORT = String(ports.port);
  if (ports.signerPort !== undefined) env.NOTARY_SIGNER_PORT = String(ports.signerPort);
  if (cluster.signerUrl !== undefined) env.NOTARY_SIGNER_URL = cluster.signerUrl;
  Object.assign(env, extra);
  return env;
}
