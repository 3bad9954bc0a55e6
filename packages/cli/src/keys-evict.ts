/**
 * `matrix-notary keys evict SERVER [KEY_ID] [--json]`: drops a key-ID binding (MSC4499's manual
 * eviction), so an origin that lost its key can publish a new one under the same ID; without a
 * key ID, drops everything held for SERVER (responses, bindings, fetch state). Each eviction is
 * logged (a JSON line on stderr, with the SHA-256 fingerprints of the keys dropped) and counted
 * in matrix_notary_key_bindings_evicted_total{reason="operator"}.
 */
import { parseArgs } from 'node:util';
import { createLogger, VariableReader } from '@matrix-notary/common';
import { isValidKeyId, keyFingerprint } from '@matrix-notary/protocol';
import { checkServerName, EXIT_FAILED, EXIT_OK, UsageError, withStore, type CommandIo } from './store-access';

export const KEYS_USAGE = `usage: matrix-notary keys evict SERVER [KEY_ID] [--json]

Drops the binding of KEY_ID for SERVER, so the next fetch binds whatever body the origin now
publishes under that ID (and the origin may be fetched at once); without KEY_ID, drops everything
held for SERVER. Do it only once the origin's admin has confirmed, out of band, that the new key
is theirs. Reads REDIS_URL and NOTARY_REDIS_PREFIX like the roles. Exit 1 when nothing was held.
`;

interface EvictRequest {
  serverName: string;
  keyId?: string;
  json: boolean;
}

function parse(args: string[]): EvictRequest | 'help' {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (parsed.values.help) return 'help';
  const [sub, server, keyId, ...rest] = parsed.positionals;
  if (sub !== 'evict') throw new UsageError(sub === undefined ? 'a subcommand is required' : `unknown subcommand "${sub}"`);
  if (rest.length > 0) throw new UsageError('too many arguments');
  if (keyId !== undefined && !isValidKeyId(keyId)) throw new UsageError(`${JSON.stringify(keyId)} is not a valid key ID (algorithm:version)`);
  return { serverName: checkServerName(server), keyId, json: parsed.values.json === true };
}

export async function runKeys(args: string[], io: CommandIo): Promise<number> {
  let request: EvictRequest | 'help';
  try {
    request = parse(args);
  } catch (err) {
    io.stderr.write(`matrix-notary keys: ${(err as Error).message}\n\n${KEYS_USAGE}`);
    return 2;
  }
  if (request === 'help') {
    io.stdout.write(KEYS_USAGE);
    return EXIT_OK;
  }
  const { serverName, keyId, json } = request;
  return withStore(io, 'keys', KEYS_USAGE, async ({ store }) => {
    // The level as the roles read it (the table's default, a bad value refused), before anything is evicted.
    const reader = new VariableReader(io.env);
    const level = reader.optional('NOTARY_LOG_LEVEL');
    reader.done();
    const logger = createLogger({ role: 'cli', level, destination: io.stderr });
    const dropped = await store.evict(serverName, keyId);
    const evicted = dropped.map((d) => ({ key_id: d.keyId, key: d.body, key_sha256: keyFingerprint(d.body) }));
    if (evicted.length > 0) {
      logger.warn(
        { origin: serverName, keyIds: evicted.map((e) => e.key_id), keySha256: evicted.map((e) => e.key_sha256), all: keyId === undefined },
        'key bindings evicted by an operator',
      );
    }
    if (json) {
      io.stdout.write(`${JSON.stringify({ server_name: serverName, key_id: keyId ?? null, evicted }, null, 2)}\n`);
    } else if (evicted.length > 0) {
      const what = keyId === undefined ? `everything held for ${serverName}` : `the binding of ${keyId} for ${serverName}`;
      io.stdout.write(`Evicted ${what}:\n${evicted.map((e) => `  ${e.key_id}  key ${e.key}  (sha256 ${e.key_sha256})\n`).join('')}`);
    } else {
      io.stdout.write(
        keyId === undefined
          ? `No key binding was held for ${serverName} (its fetch state, if any, is dropped).\n`
          : `No binding of ${keyId} is held for ${serverName}: nothing evicted.\n`,
      );
    }
    return evicted.length > 0 ? EXIT_OK : EXIT_FAILED;
  });
}
