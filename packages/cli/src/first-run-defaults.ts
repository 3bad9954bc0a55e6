/**
 * What `all` (and so `npm start`) fills in on a bare machine, decided from the environment alone:
 * a server name made from the port, a signer token, whether a signing key may be created, and
 * whether a private Redis may be needed. Defaults are the configuration table's (variables.ts),
 * never repeated here; the steps that touch the machine are first-run-steps.ts's.
 */
import { VARIABLES, VariableReader } from '@matrix-notary/common';

type Env = NodeJS.ProcessEnv;

export interface FirstRunDefaults {
  /** The environment every role of `all` is configured from: the given one, blanks filled in. */
  env: Env;
  /**
   * Where the server name comes from: given; made from NOTARY_PORT; or, when NOTARY_PORT is 0,
   * made from the port the api's socket gets (`env` holds a stand-in until it has one).
   */
  serverName: 'given' | 'from_port' | 'from_listener';
  /** The signing key file to create if it is missing: the default path, and only when none was given. */
  createKeyAt?: string;
  /** False when no Redis is named: `all` then uses REDIS_URL's default if a Redis answers there, else a private one. */
  redisConfigured: boolean;
}

/** The name of a notary that was not given one (a warning says so). */
export function defaultServerName(port: number): string {
  return `localhost:${port}`;
}

function isSet(env: Env, name: string): boolean {
  return Boolean(env[name]?.trim());
}

/** `newToken` makes the signer token (random bytes in use); the rest follows from `env`. */
export function firstRunDefaults(env: Env, newToken: () => string): FirstRunDefaults {
  const filled: Env = { ...env };
  let serverName: FirstRunDefaults['serverName'] = 'given';
  if (!isSet(env, 'NOTARY_SERVER_NAME')) {
    const port = new VariableReader(env).optional('NOTARY_PORT');
    serverName = port === 0 ? 'from_listener' : 'from_port';
    // With a bad NOTARY_PORT validation reports the port; the name made from it must not be blamed too.
    filled.NOTARY_SERVER_NAME = port === undefined || port === 0 ? 'localhost' : defaultServerName(port);
  }
  if (!isSet(env, 'NOTARY_SIGNER_TOKEN') && !isSet(env, 'NOTARY_SIGNER_TOKEN_FILE')) {
    // In one process the signer is called directly, so the token guards nothing here; it only
    // keeps the configuration the same shape as the split roles'.
    filled.NOTARY_SIGNER_TOKEN = newToken();
  }
  return {
    env: filled,
    serverName,
    // A missing file anywhere else is most likely a mistyped path to the real key, and a new key
    // there would silently change the notary's identity.
    createKeyAt: isSet(env, 'NOTARY_SIGNING_KEY_FILE') ? undefined : VARIABLES.NOTARY_SIGNING_KEY_FILE.default,
    // REDIS_SENTINELS and REDIS_CLUSTER_NODES name a Redis as surely as REDIS_URL does.
    redisConfigured: ['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'].some((name) => isSet(env, name)),
  };
}
