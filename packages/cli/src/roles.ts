/**
 * Starting each role from the environment. Every start function validates the whole
 * configuration before it opens anything, and returns a handle with its logger and `stop()`, so
 * the same code runs as separate processes, as `all` in one process, and inside tests.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import {
  createLogger,
  createRegistry,
  redisSettingsFromUrl,
  startMetricsListener,
  VariableReader,
  type Logger,
  type MetricsListener,
} from '@matrix-notary/common';
import { readApiConfig, startApi, type ApiHandle } from '@matrix-notary/api';
import { loadLocalSigner, startSignerServer, type LocalSigner } from '@matrix-notary/signer';
import { RemoteSigner } from '@matrix-notary/signer-client';
import { readWorkerConfig, startWorker } from '@matrix-notary/worker';
import type { EmbeddedRedis } from './embedded-redis';
import { defaultServerName, firstRunDefaults } from './first-run-defaults';
import { createKeyIfMissing, listenerPort, openListener, privateRedisUnlessOneAnswers } from './first-run-steps';
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

export interface AllOptions {
  /** Where the embedded default keeps its private Redis data (default ./data/redis). */
  dataDir?: string;
  logger?: Logger;
}

/**
 * Every role in one process: the embedded default of `npm start`. Fills in what a first run on
 * a bare machine lacks (a Redis, a signing key, a server name, a signer token) and says so
 * (first-run-defaults.ts decides what, first-run-steps.ts does it), then starts the same worker
 * and api as the split roles, sharing one registry and the in-process signer.
 */
export async function startAll(env: Env, opts: AllOptions = {}): Promise<RoleHandle> {
  const firstRun = firstRunDefaults(env, () => randomBytes(24).toString('base64url'));
  const reader = new VariableReader(firstRun.env);
  const signerConfig = readSignerConfig(reader);
  const apiConfig = readApiConfig(reader);
  const workerConfig = readWorkerConfig(reader);
  reader.done();

  const logger = opts.logger ?? createLogger({ role: 'all', level: apiConfig.logLevel });
  // NOTARY_PORT=0 and no name: the name is made from the port, so the api's socket comes first.
  const listener = firstRun.serverName === 'from_listener' ? await openListener(apiConfig.port, apiConfig.bind) : undefined;
  let signer: LocalSigner | undefined;
  let embedded: EmbeddedRedis | undefined;
  try {
    if (listener) signerConfig.serverName = apiConfig.serverName = workerConfig.serverName = defaultServerName(listenerPort(listener));
    if (firstRun.serverName !== 'given') {
      logger.warn(
        { serverName: apiConfig.serverName },
        'NOTARY_SERVER_NAME is not set: using localhost:<port>; set it to the name homeservers will know this notary by',
      );
    }
    if (firstRun.createKeyAt !== undefined) await createKeyIfMissing(firstRun.createKeyAt, logger);
    signer = await localSigner(signerConfig, logger);
    if (!firstRun.redisConfigured) {
      embedded = await privateRedisUnlessOneAnswers(apiConfig.redis, opts.dataDir ?? path.resolve('data'), logger);
      if (embedded) apiConfig.redis = workerConfig.redis = redisSettingsFromUrl(embedded.url);
    }
    const registry = createRegistry('all');
    const worker = await startWorker(workerConfig, { signer, logger, registry });
    let api: ApiHandle | undefined;
    let metrics: MetricsListener;
    try {
      api = await startApi(apiConfig, { signer, logger, registry, listener });
      metrics = await startMetricsListener(registry, apiConfig.metricsPort, apiConfig.metricsBind, api.ready);
    } catch (err) {
      await api?.stop();
      await worker.stop();
      throw err;
    }
    // Consts for stop(): a closure does not see what the code above proved of the lets.
    const [started, inProcessSigner, privateRedis] = [api, signer, embedded];
    logger.info(
      { url: reachableUrl(apiConfig.bind, started.port, '/_matrix/key/v2/server'), serverName: apiConfig.serverName, metricsPort: metrics.port },
      'matrix-notary is running (all roles in one process)',
    );
    return {
      port: started.port,
      logger,
      async stop() {
        await Promise.all([started.stop(), worker.stop(), metrics.stop()]);
        await inProcessSigner.close();
        await privateRedis?.stop();
      },
    };
  } catch (err) {
    listener?.close(); // the api closes it once it has taken it over; closing again does nothing
    await signer?.close();
    await embedded?.stop();
    throw err;
  }
}
