/**
 * Every environment variable the notary reads, declared once: its name, default, meaning and
 * parser. Roles pick the ones they need (see each role's config.ts); the README's configuration
 * reference is checked against this table by a test, so the two cannot drift apart.
 */
import { isIP } from 'node:net';
import { nonCanonicalServerNameReason } from '@matrix-notary/protocol';
import { z } from 'zod';
import { parseDnsServers } from './dns-servers';

export interface VariableSpec<T> {
  name: string;
  /** The default as a user would write it in the environment, or undefined for none. */
  default?: string;
  /** The default as the README describes it when it is not a plain value. */
  defaultDoc?: string;
  doc: string;
  schema: z.ZodType<T>;
}

function variable<T>(spec: VariableSpec<T>): VariableSpec<T> {
  return spec;
}

const nonEmpty = z.string().trim().min(1, 'must not be empty');

/** A whole number within [min, max]; every way to miss says the same thing: what is allowed. */
const integer = (min: number, max: number) => {
  const range = `must be a whole number from ${min} to ${max}`;
  return z
    .string()
    .trim()
    .regex(/^[0-9]{1,16}$/, range)
    .transform(Number)
    .pipe(z.number().int().min(min, range).max(max, range));
};

const port = integer(0, 65535);

const boolean = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ['true', 'false', '1', '0', 'yes', 'no'].includes(v), 'must be true or false')
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const bindAddress = z
  .string()
  .trim()
  .refine((v) => isIP(v) !== 0, 'must be an IP address such as 0.0.0.0, 127.0.0.1 or ::');

const list = z
  .string()
  .transform((v) => v.split(',').map((s) => s.trim()).filter((s) => s.length > 0));

const cidr = z.string().refine((v) => {
  const [addr, bits, ...rest] = v.split('/');
  if (rest.length > 0 || isIP(addr) === 0) return false;
  if (bits === undefined) return true;
  const max = isIP(addr) === 4 ? 32 : 128;
  return /^[0-9]{1,3}$/.test(bits) && Number(bits) <= max;
}, 'must be an IP address or CIDR such as 127.0.0.2/32 or fd00::/8');

const redisUrl = z
  .string()
  .trim()
  .url('must be a URL such as redis://127.0.0.1:6379')
  .refine((v) => /^rediss?:\/\//i.test(v), 'must be a redis:// or rediss:// (TLS) URL such as redis://127.0.0.1:6379');

/** `host:port` or `[v6]:port`; without a port, `defaultPort`. */
export interface HostPort {
  host: string;
  port: number;
}

function hostPort(defaultPort: number) {
  return z.string().transform((v, ctx): HostPort => {
    const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s\[\]]+))(?::([0-9]{1,5}))?$/.exec(v);
    const port = m?.[3] === undefined ? defaultPort : Number(m[3]);
    const host = m?.[1] ?? m?.[2];
    if (!m || host === undefined || (m[1] !== undefined && isIP(m[1]) !== 6) || port < 1 || port > 65535) {
      ctx.addIssue({ code: 'custom', message: `must list host:port entries such as 10.0.0.1:${defaultPort} or [fd00::1]:${defaultPort}` });
      return z.NEVER;
    }
    return { host, port };
  });
}

const SECOND_MS = 1000;
/** Keys signing beside the current one: a rotation needs one; a few more cost a signature each per answer. */
const MAX_EXTRA_SIGNING_KEYS = 4;
const DAY_S = 86400;

export const VARIABLES = {
  NOTARY_SERVER_NAME: variable({
    name: 'NOTARY_SERVER_NAME',
    defaultDoc: 'required for split roles; `npm start`: `localhost:<port>` with a warning',
    doc: "the notary's own server name",
    schema: nonEmpty.superRefine((name, ctx) => {
      // The notary signs as this name, so it must be the one spelling callers may ask for it by.
      const why = nonCanonicalServerNameReason(name);
      if (why !== null) ctx.addIssue({ code: 'custom', message: `is refused: ${why} (a server name looks like notary.example.org or notary.example.org:8448)` });
    }),
  }),
  NOTARY_SIGNING_KEY_FILE: variable({
    name: 'NOTARY_SIGNING_KEY_FILE',
    default: './data/signing.key',
    defaultDoc: '`./data/signing.key` (created by `npm start`)',
    doc: "current key, Synapse's format: `ed25519 <version> <unpadded base64 seed>`",
    schema: nonEmpty,
  }),
  NOTARY_OLD_SIGNING_KEYS_FILE: variable({
    name: 'NOTARY_OLD_SIGNING_KEYS_FILE',
    defaultDoc: 'none',
    doc: "retired keys, Synapse's `old_signing_keys` JSON: `{\"ed25519:id\": {\"key\": \"…\", \"expired_ts\": ms}}`",
    schema: nonEmpty,
  }),
  NOTARY_EXTRA_SIGNING_KEY_FILES: variable({
    name: 'NOTARY_EXTRA_SIGNING_KEY_FILES',
    defaultDoc: 'none',
    doc: 'comma-separated key files (same format) that sign every answer beside the current key, for a rotation without breaking pinned clients (see [Rotating the signing key](#rotating-the-signing-key)); read by the signer only',
    schema: list.pipe(z.array(z.string()).min(1, 'must name at least one key file').max(MAX_EXTRA_SIGNING_KEYS, `may name at most ${MAX_EXTRA_SIGNING_KEYS} key files`)),
  }),
  NOTARY_OWN_KEY_VALIDITY_S: variable({
    name: 'NOTARY_OWN_KEY_VALIDITY_S',
    default: '86400',
    doc: "`valid_until_ts` of the notary's own `/server` response, from now",
    schema: integer(3600, 365 * DAY_S).transform((s) => s * SECOND_MS),
  }),
  REDIS_URL: variable({
    name: 'REDIS_URL',
    default: 'redis://127.0.0.1:6379',
    doc: 'the Redis for cache, queue and limits: `redis://` or `rediss://` (TLS), e.g. `redis://:PASSWORD@host:6379/0`',
    schema: redisUrl,
  }),
  NOTARY_REDIS_PREFIX: variable({
    name: 'NOTARY_REDIS_PREFIX',
    default: 'notary',
    doc: 'prefix of every Redis key and queue, so deployments and tests can share a Redis',
    schema: z.string().trim().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ . -'),
  }),
  REDIS_SENTINELS: variable({
    name: 'REDIS_SENTINELS',
    default: '',
    defaultDoc: 'empty',
    doc: 'comma-separated `host:port` of Redis Sentinels; when set, the master named `REDIS_SENTINEL_MASTER` is found through them and followed across failovers (`REDIS_URL` then gives only password, TLS and database)',
    schema: list.pipe(z.array(hostPort(26379))),
  }),
  REDIS_SENTINEL_MASTER: variable({
    name: 'REDIS_SENTINEL_MASTER',
    default: 'mymaster',
    doc: 'the Sentinel master name',
    schema: nonEmpty.regex(/^\S+$/, 'must not contain spaces'),
  }),
  REDIS_CLUSTER_NODES: variable({
    name: 'REDIS_CLUSTER_NODES',
    default: '',
    defaultDoc: 'empty',
    doc: 'comma-separated `host:port` seed nodes of a Redis Cluster; when set, every key and queue lives in the cluster (`REDIS_URL` then gives only password and TLS)',
    schema: list.pipe(z.array(hostPort(6379))),
  }),
  REDIS_PASSWORD_FILE: variable({
    name: 'REDIS_PASSWORD_FILE',
    defaultDoc: 'none',
    doc: 'a file holding the Redis password (a mounted Secret); wins over a password in `REDIS_URL`',
    schema: nonEmpty,
  }),
  NOTARY_PORT: variable({ name: 'NOTARY_PORT', default: '8080', doc: 'public api listener port', schema: port }),
  NOTARY_BIND: variable({ name: 'NOTARY_BIND', default: '0.0.0.0', doc: 'public api listener address', schema: bindAddress }),
  NOTARY_METRICS_PORT: variable({
    name: 'NOTARY_METRICS_PORT',
    default: '9464',
    doc: 'Prometheus `/metrics` and `/healthz` port, never the public one',
    schema: port,
  }),
  NOTARY_METRICS_BIND: variable({
    name: 'NOTARY_METRICS_BIND',
    defaultDoc: 'api and `all`: the value of `NOTARY_BIND`; signer: the value of `NOTARY_SIGNER_BIND`; worker: `127.0.0.1`',
    doc: 'Prometheus `/metrics` (and `/healthz`) listener address',
    schema: bindAddress,
  }),
  NOTARY_SIGNER_PORT: variable({
    name: 'NOTARY_SIGNER_PORT',
    default: '8081',
    doc: "the signer's listener port (split roles only)",
    schema: port,
  }),
  NOTARY_SIGNER_BIND: variable({
    name: 'NOTARY_SIGNER_BIND',
    default: '127.0.0.1',
    doc: "the signer's listener address (split roles only)",
    schema: bindAddress,
  }),
  NOTARY_SIGNER_URL: variable({
    name: 'NOTARY_SIGNER_URL',
    default: 'http://127.0.0.1:8081',
    doc: 'how split api and worker roles reach the signer',
    schema: z.string().trim().url().refine((v) => /^https?:\/\//.test(v), 'must be an http:// or https:// URL'),
  }),
  NOTARY_SIGNER_TOKEN: variable({
    name: 'NOTARY_SIGNER_TOKEN',
    defaultDoc: 'required for split roles; generated by `npm start`',
    doc: 'the bearer token the signer demands (at least 16 characters)',
    schema: z
      .string()
      .trim()
      .min(16, 'must be at least 16 characters (use a long random string)')
      .regex(/^\S+$/, 'must not contain spaces (it travels in an Authorization header)'),
  }),
  NOTARY_SIGNER_TOKEN_FILE: variable({
    name: 'NOTARY_SIGNER_TOKEN_FILE',
    defaultDoc: 'none',
    doc: 'a file holding the signer token, instead of `NOTARY_SIGNER_TOKEN`',
    schema: nonEmpty,
  }),
  NOTARY_ALLOW_PRIVATE_ADDRESSES: variable({
    name: 'NOTARY_ALLOW_PRIVATE_ADDRESSES',
    default: 'false',
    doc: 'allow origins on any non-public address (tests, private federations)',
    schema: boolean,
  }),
  NOTARY_ALLOWED_ADDRESSES: variable({
    name: 'NOTARY_ALLOWED_ADDRESSES',
    default: '',
    defaultDoc: 'empty',
    doc: 'comma-separated CIDRs allowed even when non-public (e.g. `127.0.0.2/32`)',
    schema: list.pipe(z.array(cidr)),
  }),
  NOTARY_ORIGIN_MIN_INTERVAL_S: variable({
    name: 'NOTARY_ORIGIN_MIN_INTERVAL_S',
    default: '60',
    doc: 'least time between two fetches from one origin (0: only one fetch at a time)',
    schema: integer(0, DAY_S).transform((s) => s * SECOND_MS),
  }),
  NOTARY_ORIGIN_MAX_BACKOFF_S: variable({
    name: 'NOTARY_ORIGIN_MAX_BACKOFF_S',
    default: '3600',
    doc: 'cap of the doubling interval after failures',
    schema: integer(0, 7 * DAY_S).transform((s) => s * SECOND_MS),
  }),
  NOTARY_MIN_KEY_VALIDITY_S: variable({
    name: 'NOTARY_MIN_KEY_VALIDITY_S',
    default: '3600',
    doc: 'refuse origin responses valid for less than this from now; 0 = no refusal',
    schema: integer(0, 365 * DAY_S).transform((s) => s * SECOND_MS),
  }),
  NOTARY_BANNED_KEYS_FILE: variable({
    name: 'NOTARY_BANNED_KEYS_FILE',
    defaultDoc: 'none',
    doc: 'JSON list of `{"server_name"?, "key_id"?, "key": base64, "note"?}` entries: key bodies never served (compromised keys); a response that holds one is refused',
    schema: nonEmpty,
  }),
  NOTARY_UPSTREAM_NOTARIES_FILE: variable({
    name: 'NOTARY_UPSTREAM_NOTARIES_FILE',
    defaultDoc: 'none',
    doc: 'JSON list of `{"server_name", "url", "verify_keys": {id: base64}}`: notaries asked when an origin cannot be reached and nothing is stored (see [Upstream notaries](#upstream-notaries)); read by the worker',
    schema: nonEmpty,
  }),
  NOTARY_FETCH_WAIT_MS: variable({
    name: 'NOTARY_FETCH_WAIT_MS',
    default: '5000',
    doc: 'how long a query waits for a refresh it needs',
    schema: integer(0, 60_000),
  }),
  NOTARY_ORIGIN_CONNECT_TIMEOUT_MS: variable({
    name: 'NOTARY_ORIGIN_CONNECT_TIMEOUT_MS',
    default: '3000',
    doc: 'TCP + TLS connect, per origin fetch',
    schema: integer(1, 60_000),
  }),
  NOTARY_ORIGIN_TIMEOUT_MS: variable({
    name: 'NOTARY_ORIGIN_TIMEOUT_MS',
    default: '10000',
    doc: 'the whole fetch, connect to last byte',
    schema: integer(1, 120_000),
  }),
  NOTARY_MAX_ORIGIN_RESPONSE_BYTES: variable({
    name: 'NOTARY_MAX_ORIGIN_RESPONSE_BYTES',
    default: '1048576',
    doc: "size cap on an origin's response",
    schema: integer(1024, 64 * 1024 * 1024),
  }),
  NOTARY_MAX_BODY_BYTES: variable({
    name: 'NOTARY_MAX_BODY_BYTES',
    default: '1048576',
    doc: 'size cap on a request body',
    schema: integer(64, 64 * 1024 * 1024),
  }),
  NOTARY_MAX_SERVERS_PER_QUERY: variable({
    name: 'NOTARY_MAX_SERVERS_PER_QUERY',
    default: '5000',
    doc: 'most servers in one query',
    schema: integer(1, 100_000),
  }),
  NOTARY_MAX_KEYS_PER_SERVER: variable({
    name: 'NOTARY_MAX_KEYS_PER_SERVER',
    default: '100',
    doc: 'most key IDs per server in one query',
    schema: integer(1, 10_000),
  }),
  NOTARY_FEDERATION_CA_FILE: variable({
    name: 'NOTARY_FEDERATION_CA_FILE',
    defaultDoc: 'none',
    doc: 'extra CAs (PEM) trusted for origins, read at start',
    schema: nonEmpty,
  }),
  NOTARY_DNS_SERVERS: variable({
    name: 'NOTARY_DNS_SERVERS',
    defaultDoc: "the system's",
    doc: 'comma-separated `ip` or `ip:port` (`[v6]:port`) resolvers for origins',
    schema: z.string().transform((v, ctx) => {
      try {
        return parseDnsServers(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message.replace(/^NOTARY_DNS_SERVERS: /, '') });
        return z.NEVER;
      }
    }),
  }),
  NOTARY_LOG_LEVEL: variable({
    name: 'NOTARY_LOG_LEVEL',
    default: 'info',
    doc: 'log level: fatal, error, warn, info, debug, trace or silent',
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  }),
  NOTARY_TRUSTED_PROXIES: variable({
    name: 'NOTARY_TRUSTED_PROXIES',
    default: '',
    defaultDoc: 'empty',
    doc: "comma-separated CIDRs of load balancers whose `X-Forwarded-For` is believed (the client is the last address in it that is not one of them)",
    schema: list.pipe(z.array(cidr)),
  }),
  NOTARY_CLIENT_REQUESTS_PER_S: variable({
    name: 'NOTARY_CLIENT_REQUESTS_PER_S',
    default: '200',
    doc: 'requests a second one client may make on average, across all api pods (then 429); 0 turns the limit off',
    schema: integer(0, 1_000_000),
  }),
  NOTARY_CLIENT_BURST: variable({
    name: 'NOTARY_CLIENT_BURST',
    default: '1000',
    doc: 'requests one client may make at once: the limit counts in windows of BURST / REQUESTS_PER_S seconds (at least 1)',
    schema: integer(1, 100_000_000),
  }),
  NOTARY_CLIENT_NEW_ORIGINS_PER_MIN: variable({
    name: 'NOTARY_CLIENT_NEW_ORIGINS_PER_MIN',
    default: '500',
    doc: 'origins with nothing stored that one client may make the notary contact per minute; further ones are absent from its answers; 0 = no limit',
    schema: integer(0, 100_000_000),
  }),
  NOTARY_UNLIMITED_CLIENTS: variable({
    name: 'NOTARY_UNLIMITED_CLIENTS',
    default: '',
    defaultDoc: 'empty',
    doc: 'comma-separated CIDRs exempt from both client limits (your own homeservers)',
    schema: list.pipe(z.array(cidr)),
  }),
} as const;

export type VariableName = keyof typeof VARIABLES;
export type VariableValue<N extends VariableName> = (typeof VARIABLES)[N] extends VariableSpec<infer T> ? T : never;
