/**
 * Where every role's Redis is and how to reach it: one standalone Redis (REDIS_URL), a master
 * found through Sentinels (REDIS_SENTINELS), or a Redis Cluster (REDIS_CLUSTER_NODES); TLS when
 * REDIS_URL is rediss://; the password from REDIS_PASSWORD_FILE or REDIS_URL.
 */
import fs from 'node:fs';
import type { VariableReader } from './read';
import type { HostPort } from './variables';

export type RedisMode = 'standalone' | 'sentinel' | 'cluster';

/** The variable that says where Redis is, in each mode: what a start-up failure names. */
export const REDIS_LOCATION_VARIABLE: Record<RedisMode, string> = {
  standalone: 'REDIS_URL',
  sentinel: 'REDIS_SENTINELS',
  cluster: 'REDIS_CLUSTER_NODES',
};

export interface RedisSettings {
  mode: RedisMode;
  /** The standalone Redis (REDIS_URL's host and port); unused in the other modes. */
  host: string;
  port: number;
  /** Database number (REDIS_URL's path); always 0 on a cluster. */
  db: number;
  /** rediss://: TLS to Redis, and to the Sentinels or cluster nodes. */
  tls: boolean;
  username?: string;
  /**
   * Not enumerable, so a settings object that ends up in a log line or JSON never shows it.
   * Read it as `settings.password`.
   */
  readonly password?: string;
  /** Where the password came from, for messages; never the password itself. */
  passwordFrom?: 'REDIS_PASSWORD_FILE' | 'REDIS_URL';
  sentinels: HostPort[];
  sentinelMaster: string;
  clusterNodes: HostPort[];
}

/** Settings for one standalone Redis at `url` (tests, tools); throws on a URL that is not redis(s)://. */
export function redisSettingsFromUrl(url: string, password?: string): RedisSettings {
  const problems: string[] = [];
  const settings = parseRedisUrl(url, (p) => problems.push(p));
  if (problems.length > 0 || !settings) throw new Error(`REDIS_URL ${problems.join('; ')}`);
  return withPassword({ ...settings, mode: 'standalone', sentinels: [], sentinelMaster: 'mymaster', clusterNodes: [] }, settings.urlPassword, password);
}

/** Reads REDIS_URL, REDIS_SENTINELS, REDIS_SENTINEL_MASTER, REDIS_CLUSTER_NODES and REDIS_PASSWORD_FILE. */
export function readRedisSettings(
  reader: VariableReader,
  readFile: (path: string) => string = (p) => fs.readFileSync(p, 'utf8'),
): RedisSettings {
  const url = reader.optional('REDIS_URL') as string | undefined;
  const sentinels = reader.optional('REDIS_SENTINELS') ?? [];
  const sentinelMaster = reader.optional('REDIS_SENTINEL_MASTER') as string;
  const clusterNodes = reader.optional('REDIS_CLUSTER_NODES') ?? [];
  const passwordFile = reader.optional('REDIS_PASSWORD_FILE');

  const parsed = url === undefined ? undefined : parseRedisUrl(url, (p) => reader.problem(`REDIS_URL ${p}`));
  let mode: RedisMode = 'standalone';
  if (sentinels.length > 0 && clusterNodes.length > 0) {
    reader.problem('REDIS_SENTINELS and REDIS_CLUSTER_NODES are both set: set the one that matches your Redis');
  } else if (sentinels.length > 0) {
    mode = 'sentinel';
  } else if (clusterNodes.length > 0) {
    mode = 'cluster';
    if (parsed && parsed.db !== 0) reader.problem('REDIS_URL names database ' + parsed.db + ', but a Redis Cluster has only database 0: drop the path from REDIS_URL');
  }

  let filePassword: string | undefined;
  if (passwordFile !== undefined) {
    filePassword = readSecretFile(passwordFile, readFile, (p) => reader.problem(`REDIS_PASSWORD_FILE ${p}`));
  }
  const base = parsed ?? { host: '127.0.0.1', port: 6379, db: 0, tls: false, username: undefined, urlPassword: undefined };
  return withPassword(
    { host: base.host, port: base.port, db: base.db, tls: base.tls, username: base.username, mode, sentinels, sentinelMaster, clusterNodes },
    base.urlPassword,
    filePassword,
  );
}

/** Where the notary looks for Redis, as a phrase for log lines and messages: no credentials. */
export function describeRedis(settings: RedisSettings): string {
  const scheme = settings.tls ? 'rediss' : 'redis';
  const list = (nodes: HostPort[]) => nodes.map((n) => `${hostForUrl(n.host)}:${n.port}`).join(',');
  switch (settings.mode) {
    case 'sentinel':
      return `the Redis master "${settings.sentinelMaster}" of the Sentinels ${list(settings.sentinels)}${settings.tls ? ' (TLS)' : ''}`;
    case 'cluster':
      return `the Redis Cluster at ${list(settings.clusterNodes)}${settings.tls ? ' (TLS)' : ''}`;
    default:
      return `Redis at ${scheme}://${hostForUrl(settings.host)}:${settings.port}${settings.db === 0 ? '' : `/${settings.db}`}`;
  }
}

interface ParsedUrl {
  host: string;
  port: number;
  db: number;
  tls: boolean;
  username?: string;
  urlPassword?: string;
}

function parseRedisUrl(text: string, problem: (p: string) => void): ParsedUrl | undefined {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    problem('must be a URL such as redis://127.0.0.1:6379');
    return undefined;
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    problem('must be a redis:// or rediss:// (TLS) URL such as redis://127.0.0.1:6379');
    return undefined;
  }
  if (u.search !== '' || u.hash !== '') {
    problem('must not carry query parameters or a fragment: give the password and database as redis://:PASSWORD@host:6379/0');
    return undefined;
  }
  const path = u.pathname.replace(/^\//, '');
  if (path !== '' && !/^[0-9]{1,5}$/.test(path)) {
    problem('path must be a database number, such as redis://host:6379/0');
    return undefined;
  }
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') {
    problem('must name a host, such as redis://127.0.0.1:6379');
    return undefined;
  }
  return {
    host,
    port: u.port === '' ? 6379 : Number(u.port),
    db: path === '' ? 0 : Number(path),
    tls: u.protocol === 'rediss:',
    username: u.username === '' ? undefined : decodeURIComponent(u.username),
    urlPassword: u.password === '' ? undefined : decodeURIComponent(u.password),
  };
}

function withPassword(settings: Omit<RedisSettings, 'password' | 'passwordFrom'>, urlPassword?: string, filePassword?: string): RedisSettings {
  const password = filePassword ?? urlPassword;
  const out: RedisSettings = { ...settings };
  if (password !== undefined) out.passwordFrom = filePassword !== undefined ? 'REDIS_PASSWORD_FILE' : 'REDIS_URL';
  Object.defineProperty(out, 'password', { value: password, enumerable: false });
  return out;
}

/**
 * A secret from a file (a mounted Secret): the whole file, without one trailing newline. Problems
 * name the file, never its content.
 */
export function readSecretFile(file: string, readFile: (path: string) => string, problem: (p: string) => void): string | undefined {
  let text: string;
  try {
    text = readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    problem(`${file} cannot be read (${code ?? (err as Error).message}): check the path and that this user may read it`);
    return undefined;
  }
  const secret = text.replace(/\r?\n$/, '');
  if (secret === '') {
    problem(`${file} is empty`);
    return undefined;
  }
  return secret;
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
