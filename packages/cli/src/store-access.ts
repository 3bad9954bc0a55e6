/**
 * How the operator commands (inspect, keys evict) reach the store: the same variables as the roles
 * (REDIS_URL, NOTARY_REDIS_PREFIX), straight to Redis, no other role needed.
 */
import { ConfigError, readBannedKeysFile, readRedisSettings, silentLogger, VariableReader } from '@matrix-notary/common';
import { isValidServerName, type BannedKeys } from '@matrix-notary/protocol';
import { KeyStore, RedisConnections, type RedisClient } from '@matrix-notary/store';

/** Exit codes of the operator commands. */
export const EXIT_OK = 0;
/** Redis unreachable, or nothing held to act on. */
export const EXIT_FAILED = 1;
/** Bad usage or configuration. */
export const EXIT_USAGE = 2;

const REDIS_WAIT_MS = 5000;

export interface CommandIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface OpenStore {
  store: KeyStore;
  redis: RedisClient;
  bannedKeys: BannedKeys;
  close(): Promise<void>;
}

export function checkServerName(name: string | undefined): string {
  if (name === undefined) throw new UsageError('a server name is required');
  if (!isValidServerName(name)) throw new UsageError(`${JSON.stringify(name)} is not a valid server name`);
  return name;
}

/**
 * Connects as the roles do (REDIS_URL, Sentinel or Cluster, password file), waiting a little less
 * than a role does: a person is waiting. Throws ConfigError, or RedisStartupError whose one line
 * names the variable to check.
 */
export async function openStore(env: NodeJS.ProcessEnv, command: string): Promise<OpenStore> {
  const reader = new VariableReader(env);
  const settings = readRedisSettings(reader);
  const prefix = reader.optional('NOTARY_REDIS_PREFIX') as string;
  const bannedKeysFile = reader.optional('NOTARY_BANNED_KEYS_FILE');
  reader.done();
  const bannedKeys = await readBannedKeysFile(bannedKeysFile);
  const connections = await RedisConnections.open(settings, { logger: silentLogger(), name: `${prefix}-${command}`, windowMs: REDIS_WAIT_MS });
  const redis = connections.client(command);
  return {
    store: new KeyStore(redis, { prefix }),
    redis,
    bannedKeys,
    close: () => connections.close(),
  };
}

/** Runs a command body with the store open; maps the errors a person can act on to a line and an exit code. */
export async function withStore(io: CommandIo, command: string, usage: string, body: (s: OpenStore) => Promise<number>): Promise<number> {
  let open: OpenStore | undefined;
  try {
    open = await openStore(io.env, command);
    return await body(open);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`matrix-notary ${command}: ${err.message}\n\n${usage}`);
      return EXIT_USAGE;
    }
    if (err instanceof ConfigError) {
      io.stderr.write(`matrix-notary ${command}: ${err.message}\n`);
      return EXIT_USAGE;
    }
    io.stderr.write(`matrix-notary ${command}: ${(err as Error).message}\n`);
    return EXIT_FAILED;
  } finally {
    await open?.close();
  }
}
