/**
 * Starting each role from the environment. Every start function validates the whole
 * configuration before it opens anything, and returns a handle with its logger and `stop()`, so
 * the same code runs as separate processes, as `all` in one process, and inside tests.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  createLogger,
  createRegistry,
  freeLoopbackPort,
  redisAnswers,
  redisSettingsFromUrl,
  startMetricsListener,
  VariableReader,
  type Logger,
  type MetricsListener,
} from '@matrix-notary/common';
import { readApiConfig, startApi, type ApiHandle } from '@matrix-notary/api';
import { createSigningKeyFile, loadLocalSigner, startSignerServer, type LocalSigner } from '@matrix-notary/signer';
import { RemoteSigner } from '@matrix-notary/signer-client';
import { readWorkerConfig, startWorker } from '@matrix-notary/worker';
import { startEmbeddedRedis, type EmbeddedRedis } from './embedded-redis';
import { readSignerConfig, type SignerConfig } from './signer-config';
import { waitForSigner } from './wait-for-signer';

export interface RoleHandle {
  /** The public api port, for roles that have one. */
  port?: number;
  logger: Logger;
  stop(): Promise<void>;
}

type Env = NodeJS.ProcessEnv;

const SIGNER_TIMEOUT_MS = 10_000;

/** The default of NOTARY_SIGNING_KEY_FILE: the only path `all` ever creates a key at. */
const DEFAULT_SIGNING_KEY_FILE = './data/signing.key';

function localSigner(config: SignerConfig, logger: Logger): Promise<LocalSigner> {
  return loadLocalSigner({
    serverName: config.serverName,
    signingKeyFile: config.signingKeyFile,
    extraSigningKeyFiles: config.extraSigningKeyFiles,
    oldSigningKeysFile: config.oldSigningKeysFile,
    ownKeyValidityMs: config.ownKeyValidityMs,
    logger,
  });
}

/** The URL a person can paste into curl: a wildcard bind address is reached on loopback. */
function reachableUrl(bind: string, port: number, urlPath: string): string {
  const host = bind === '0.0.0.0' ? '127.0.0.1' : bind === '::' ? '[::1]' : bind.includes(':') ? `[${bind}]` : bind;
  return `http://${host}:${port}${urlPath}`;
}

export async function startSignerRole(env: Env): Promise<RoleHandle> {
  const reader = new VariableReader(env);
  const config = readSignerConfig(reader);
  reader.done();
  const logger = createLogger({ role: 'signer', level: config.logLevel });
  const registry = createRegistry('signer');
  const signer = await localSigner(config, logger);
  const server = await startSignerServer({
    signer,
    port: config.port,
    bind: config.bind,
    token: config.token,
    maxBodyBytes: config.maxBodyBytes,
    logger,
    registry,
  });
  let metrics: MetricsListener;
  try {
    metrics = await startMetricsListener(registry, config.metricsPort, config.metricsBind);
  } catch (err) {
    await server.stop();
    throw err;
  }
  logger.info({ port: server.port, bind: config.bind, metricsPort: metrics.port }, 'signer listening');
  return {
    logger,
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
  const logger = createLogger({ role: 'api', level: config.logLevel });
  const signer = new RemoteSigner({ serverName: config.serverName, url: config.signerUrl, token: config.signerToken, timeoutMs: SIGNER_TIMEOUT_MS });
  try {
    await waitForSigner(signer, config.signerUrl, logger);
    const api = await startApi(config, { signer, logger });
    return { port: api.port, logger, stop: async () => { await api.stop(); await signer.close(); } };
  } catch (err) {
    await signer.close();
    throw err;
  }
}

export async function startWorkerRole(env: Env): Promise<RoleHandle> {
  const reader = new VariableReader(env);
  const config = readWorkerConfig(reader);
  reader.done();
  const logger = createLogger({ role: 'worker', level: config.logLevel });
  const signer = new RemoteSigner({ serverName: config.serverName, url: config.signerUrl, token: config.signerToken, timeoutMs: SIGNER_TIMEOUT_MS });
  try {
    // A wrong token or URL is found now, not at the first fetch (where it would put an origin in backoff).
    await waitForSigner(signer, config.signerUrl, logger);
    const worker = await startWorker(config, { signer, logger });
    return { logger, stop: async () => { await worker.stop(); await signer.close(); } };
  } catch (err) {
    await signer.close();
    throw err;
  }
}

const DEFAULT_REDIS_HOST = '127.0.0.1';
const DEFAULT_REDIS_PORT = 6379;

export interface AllOptions {
  /** Where the embedded default keeps its private Redis data (default ./data/redis). */
  dataDir?: string;
  logger?: Logger;
}

/**
 * What `all` fills in on a bare machine before validating: a port (0 means a free one, found now
 * because the default server name needs it), a server name from the port, and a signer token (in
 * one process the signer is called directly, so the token guards nothing here; it only keeps the
 * configuration the same shape as the split roles').
 */
async function fillInDefaults(env: Env): Promise<{ effective: Env; warnServerName: boolean }> {
  const effective: Env = { ...env };
  const port = env.NOTARY_PORT?.trim() ?? '';
  if (port === '0') effective.NOTARY_PORT = String(await freeLoopbackPort());
  let warnServerName = false;
  if (!env.NOTARY_SERVER_NAME?.trim()) {
    const portReader = new VariableReader(effective);
    const resolved = portReader.optional('NOTARY_PORT');
    // With a bad NOTARY_PORT, validation stops at the port; the name must not be reported too.
    effective.NOTARY_SERVER_NAME = portReader.ok ? `localhost:${resolved}` : 'localhost';
    warnServerName = true;
  }
  if (!env.NOTARY_SIGNER_TOKEN?.trim() && !env.NOTARY_SIGNER_TOKEN_FILE?.trim()) {
    effective.NOTARY_SIGNER_TOKEN = randomBytes(24).toString('base64url');
  }
  return { effective, warnServerName };
}

/**
 * Every role in one process: the embedded default of `npm start`. Fills in what a first run on
 * a bare machine lacks (a Redis, a signing key, a server name, a signer token) and says so.
 */
export async function startAll(env: Env, opts: AllOptions = {}): Promise<RoleHandle> {
  const { effective, warnServerName } = await fillInDefaults(env);
  const reader = new VariableReader(effective);
  const signerConfig = readSignerConfig(reader);
  const apiConfig = readApiConfig(reader);
  const workerConfig = readWorkerConfig(reader);
  reader.done();

  const logger = opts.logger ?? createLogger({ role: 'all', level: apiConfig.logLevel });
  if (warnServerName) {
    logger.warn(
      { serverName: apiConfig.serverName },
      'NOTARY_SERVER_NAME is not set: using localhost:<port>; set it to the name homeservers will know this notary by',
    );
  }
  // A key is created only at the default path: a missing file anywhere else is most likely a
  // mistyped path to the real key, and a new key there would silently change the notary's identity.
  const keyFileIsDefault = !env.NOTARY_SIGNING_KEY_FILE?.trim();
  if (keyFileIsDefault && !fs.existsSync(DEFAULT_SIGNING_KEY_FILE)) {
    fs.mkdirSync(path.dirname(path.resolve(DEFAULT_SIGNING_KEY_FILE)), { recursive: true, mode: 0o700 });
    const { keyId } = await createSigningKeyFile(DEFAULT_SIGNING_KEY_FILE);
    logger.info({ file: DEFAULT_SIGNING_KEY_FILE, keyId }, 'created a new signing key');
  }
  const signer = await localSigner(signerConfig, logger);

  let embedded: EmbeddedRedis | undefined;
  try {
    // Only when no Redis at all is configured (REDIS_SENTINELS or REDIS_CLUSTER_NODES name one too).
    const redisConfigured = Boolean(env.REDIS_URL?.trim() || env.REDIS_SENTINELS?.trim() || env.REDIS_CLUSTER_NODES?.trim());
    if (!redisConfigured && !(await redisAnswers(DEFAULT_REDIS_HOST, DEFAULT_REDIS_PORT))) {
      const dataDir = opts.dataDir ?? path.resolve('data');
      embedded = await startEmbeddedRedis(path.join(dataDir, 'redis'));
      apiConfig.redis = workerConfig.redis = redisSettingsFromUrl(embedded.url);
      logger.info(
        { redis: embedded.url, dir: path.join(dataDir, 'redis'), reused: embedded.reused },
        embedded.reused
          ? 'no Redis at redis://127.0.0.1:6379: using the private redis-server a previous run left running'
          : 'no Redis at redis://127.0.0.1:6379: started a private redis-server',
      );
    }
    const registry = createRegistry('all');
    const worker = await startWorker(workerConfig, { signer, logger, registry });
    let api: ApiHandle | undefined;
    let metrics: MetricsListener;
    try {
      api = await startApi(apiConfig, { signer, logger, registry });
      metrics = await startMetricsListener(registry, apiConfig.metricsPort, apiConfig.metricsBind, api.ready);
    } catch (err) {
      await api?.stop();
      await worker.stop();
      throw err;
    }
    const started = api;
    logger.info(
      { url: reachableUrl(apiConfig.bind, started.port, '/_matrix/key/v2/server'), serverName: apiConfig.serverName, metricsPort: metrics.port },
      'matrix-notary is running (all roles in one process)',
    );
    return {
      port: started.port,
      logger,
      async stop() {
        await Promise.all([started.stop(), worker.stop(), metrics.stop()]);
        await signer.close();
        await embedded?.stop();
      },
    };
  } catch (err) {
    await signer.close();
    await embedded?.stop();
    throw err;
  }
}
