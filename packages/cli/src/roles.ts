/**
 * Starting each role from the environment. Every start function returns a handle with `stop()`,
 * so the same code runs as separate processes, as `all` in one process, and inside tests.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  createLogger,
  createRegistry,
  startMetricsListener,
  VariableReader,
  type Logger,
  type MetricsListener,
} from '@matrix-notary/common';
import { readApiConfig, startApi, type ApiHandle } from '@matrix-notary/api';
import { cryptoReady } from '@matrix-notary/protocol';
import {
  createSigningKeyFile,
  LocalSigner,
  readOldSigningKeysFile,
  readSigningKeyFile,
  RemoteSigner,
  startSignerServer,
} from '@matrix-notary/signer';
import { readWorkerConfig, startWorker } from '@matrix-notary/worker';
import { freeLoopbackPort, redisAnswers, startEmbeddedRedis, type EmbeddedRedis } from './embedded-redis';
import { readSignerConfig, type SignerConfig } from './signer-config';

export interface RoleHandle {
  /** The public api port, for roles that have one. */
  port?: number;
  stop(): Promise<void>;
}

type Env = NodeJS.ProcessEnv;

const SIGNER_TIMEOUT_MS = 10_000;

async function localSigner(config: SignerConfig): Promise<LocalSigner> {
  await cryptoReady();
  const { key } = await readSigningKeyFile(config.signingKeyFile);
  const oldKeys = config.oldSigningKeysFile ? await readOldSigningKeysFile(config.oldSigningKeysFile) : {};
  return new LocalSigner({ serverName: config.serverName, key, oldKeys, ownKeyValidityMs: config.ownKeyValidityMs });
}

export async function startSignerRole(env: Env): Promise<RoleHandle> {
  const reader = new VariableReader(env);
  const config = readSignerConfig(reader);
  reader.done();
  const logger = createLogger({ role: 'signer', level: config.logLevel });
  const registry = createRegistry('signer');
  const signer = await localSigner(config);
  const server = await startSignerServer({
    signer,
    port: config.port,
    bind: config.bind,
    token: config.token,
    maxBodyBytes: config.maxBodyBytes,
    logger,
    registry,
  });
  const metrics = await startMetricsListener(registry, config.metricsPort, config.metricsBind);
  logger.info({ port: server.port, bind: config.bind, metricsPort: metrics.port }, 'signer listening');
  return {
    async stop() {
      await server.stop();
      await metrics.stop();
      await signer.close();
    },
  };
}

export async function startApiRole(env: Env): Promise<RoleHandle> {
  const reader = new VariableReader(env);
  const config = readApiConfig(reader);
  reader.done();
  const signer = new RemoteSigner({ serverName: config.serverName, url: config.signerUrl, token: config.signerToken, timeoutMs: SIGNER_TIMEOUT_MS });
  const api = await startApi(config, { signer });
  return { port: api.port, stop: async () => { await api.stop(); await signer.close(); } };
}

export async function startWorkerRole(env: Env): Promise<RoleHandle> {
  const reader = new VariableReader(env);
  const config = readWorkerConfig(reader);
  reader.done();
  const signer = new RemoteSigner({ serverName: config.serverName, url: config.signerUrl, token: config.signerToken, timeoutMs: SIGNER_TIMEOUT_MS });
  const worker = await startWorker(config, { signer });
  return { stop: async () => { await worker.stop(); await signer.close(); } };
}

const DEFAULT_REDIS_HOST = '127.0.0.1';
const DEFAULT_REDIS_PORT = 6379;

export interface AllOptions {
  /** Where the embedded default keeps its private Redis data (default ./data/redis). */
  dataDir?: string;
  logger?: Logger;
}

/**
 * Every role in one process: the embedded default of `npm start`. Fills in what a first run on
 * a bare machine lacks (a Redis, a signing key, a server name, a signer token) and says so.
 */
export async function startAll(env: Env, opts: AllOptions = {}): Promise<RoleHandle> {
  const effective: Env = { ...env };
  const logger = opts.logger ?? createLogger({ role: 'all', level: env.NOTARY_LOG_LEVEL || 'info' });
  const dataDir = opts.dataDir ?? path.resolve('data');

  let embedded: EmbeddedRedis | undefined;
  // Only when no Redis at all is configured (REDIS_SENTINELS or REDIS_CLUSTER_NODES name one too).
  const redisConfigured = Boolean(env.REDIS_URL || env.REDIS_SENTINELS || env.REDIS_CLUSTER_NODES);
  if (!redisConfigured && !(await redisAnswers(DEFAULT_REDIS_HOST, DEFAULT_REDIS_PORT))) {
    embedded = await startEmbeddedRedis(path.join(dataDir, 'redis'));
    effective.REDIS_URL = embedded.url;
    logger.info({ redis: embedded.url, dir: path.join(dataDir, 'redis') }, 'no Redis at redis://127.0.0.1:6379: started a private redis-server');
  }
  try {
    if (!env.NOTARY_PORT || env.NOTARY_PORT.trim() === '0') {
      // The server name must be known before listening, so a port of 0 is resolved here.
      effective.NOTARY_PORT = env.NOTARY_PORT?.trim() === '0' ? String(await freeLoopbackPort()) : env.NOTARY_PORT || '8080';
    }
    if (!env.NOTARY_SERVER_NAME) {
      effective.NOTARY_SERVER_NAME = `localhost:${effective.NOTARY_PORT}`;
      logger.warn(
        { serverName: effective.NOTARY_SERVER_NAME },
        'NOTARY_SERVER_NAME is not set: using localhost:<port>; set it to the name homeservers will know this notary by',
      );
    }
    // In one process the signer is called directly and opens no port; the token guards nothing
    // here but keeps the configuration the same shape as the split roles'.
    if (!env.NOTARY_SIGNER_TOKEN && !env.NOTARY_SIGNER_TOKEN_FILE) effective.NOTARY_SIGNER_TOKEN = randomBytes(24).toString('base64url');

    const reader = new VariableReader(effective);
    const signerConfig = readSignerConfig(reader);
    const apiConfig = readApiConfig(reader);
    const workerConfig = readWorkerConfig(reader);
    reader.done();

    if (!fs.existsSync(signerConfig.signingKeyFile)) {
      fs.mkdirSync(path.dirname(path.resolve(signerConfig.signingKeyFile)), { recursive: true, mode: 0o700 });
      const { keyId } = await createSigningKeyFile(signerConfig.signingKeyFile);
      logger.info({ file: signerConfig.signingKeyFile, keyId }, 'created a new signing key');
    }
    const signer = await localSigner(signerConfig);
    const registry = createRegistry('all');
    let metrics: MetricsListener | undefined;
    const worker = await startWorker(workerConfig, { signer, logger, registry });
    let api: ApiHandle | undefined;
    try {
      api = await startApi(apiConfig, { signer, logger, registry });
      metrics = await startMetricsListener(registry, apiConfig.metricsPort, apiConfig.metricsBind);
    } catch (err) {
      await api?.stop();
      await worker.stop();
      throw err;
    }
    const started = api;
    logger.info({ url: `http://${apiConfig.bind}:${started.port}/_matrix/key/v2/server`, serverName: apiConfig.serverName, metricsPort: metrics.port }, 'matrix-notary is running (all roles in one process)');
    return {
      port: started.port,
      async stop() {
        await started.stop();
        await worker.stop();
        await metrics?.stop();
        await signer.close();
        await embedded?.stop();
      },
    };
  } catch (err) {
    await embedded?.stop();
    throw err;
  }
}
