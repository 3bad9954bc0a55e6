/**
 * The steps of `all`'s first run that touch the machine, as first-run-defaults.ts decided them:
 * the api's socket opened early when the notary's name needs its port, a signing key at the
 * default path, and a private Redis when none answers at REDIS_URL's default address.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { redisAnswers, type Logger, type RedisSettings } from '@matrix-notary/common';
import { createSigningKeyFile } from '@matrix-notary/signer';
import { startEmbeddedRedis, type EmbeddedRedis } from './embedded-redis';

/**
 * A socket listening on bind:port (0: a free port, chosen by listening on it), for the api to take
 * over: the port is known before the api starts, and held, so nothing else can take it meanwhile.
 */
export function openListener(port: number, bind: string): Promise<net.Server> {
  const server = net.createServer();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, bind, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

export function listenerPort(server: net.Server): number {
  return (server.address() as net.AddressInfo).port;
}

/** Creates a signing key at `file` unless one is there, and its directory (private to the user). */
export async function createKeyIfMissing(file: string, logger: Logger): Promise<void> {
  if (fs.existsSync(file)) return;
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true, mode: 0o700 });
  const { keyId } = await createSigningKeyFile(file);
  logger.info({ file, keyId }, 'created a new signing key');
}

/**
 * For `all` with no Redis configured: undefined when a Redis answers at the default address
 * (REDIS_URL's default, as `defaultRedis` holds it), else a private redis-server with its data
 * under `dataDir`/redis.
 */
export async function privateRedisUnlessOneAnswers(defaultRedis: RedisSettings, dataDir: string, logger: Logger): Promise<EmbeddedRedis | undefined> {
  if (await redisAnswers(defaultRedis.host, defaultRedis.port)) return undefined;
  const dir = path.join(dataDir, 'redis');
  const embedded = await startEmbeddedRedis(dir);
  const where = `redis://${defaultRedis.host}:${defaultRedis.port}`;
  logger.info(
    { redis: embedded.url, dir, reused: embedded.reused },
    embedded.reused
      ? `no Redis at ${where}: using the private redis-server a previous run left running`
      : `no Redis at ${where}: started a private redis-server`,
  );
  return embedded;
}
