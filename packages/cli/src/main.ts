/**
 * `matrix-notary <command>`: runs a role, or a one-off command. Start-up problems end in a short
 * message saying what is wrong and how to fix it, and a non-zero exit code.
 */
import { ConfigError } from '@matrix-notary/common';
import { generateSigningKeyFile, KeyFileError, parseSigningKeyFile, SignerUnavailableError, writeSigningKeyFile } from '@matrix-notary/signer';
import { RedisStartupError } from '@matrix-notary/store';
import { EmbeddedRedisUnavailable } from './embedded-redis';
import { startAll, startApiRole, startSignerRole, startWorkerRole, type RoleHandle } from './roles';
import { runVerifyEvent } from './verify-event';

const USAGE = `usage: matrix-notary <command>

roles (configured by environment variables; see the README):
  all                   every role in one process (what \`npm start\` runs)
  api                   the public key API
  worker                fetches and refreshes origin servers' keys
  signer                holds the signing key; countersigns for api and worker

commands:
  generate-key [--out FILE]     write a new signing key (to stdout without --out)
  verify-event --room-version N [--notary URL --notary-key KEYID=BASE64 ...]
               [--insecure-notary] [--json] [--strict] FILE|-
                                verify event signatures under room-version rules
  help                          this text
`;

const ROLES: Record<string, (env: NodeJS.ProcessEnv) => Promise<RoleHandle>> = {
  all: startAll,
  api: startApiRole,
  worker: startWorkerRole,
  signer: startSignerRole,
};

/** The one line a person needs for a start-up failure we can explain, or undefined. */
function explain(err: unknown): string | undefined {
  if (err instanceof ConfigError) return err.message;
  if (err instanceof EmbeddedRedisUnavailable || err instanceof KeyFileError || err instanceof SignerUnavailableError) return err.message;
  if (err instanceof RedisStartupError) return err.message;
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if (e?.code === 'EADDRINUSE') {
    return `port ${e.port} on ${e.address} is already in use: stop what uses it or choose another port (NOTARY_PORT, NOTARY_METRICS_PORT, NOTARY_SIGNER_PORT)`;
  }
  if (e?.code === 'EACCES' && e.port !== undefined) return `not allowed to listen on port ${e.port}: choose a port above 1024 or run with the needed privilege`;
  if (e instanceof Error && /Redis at .* did not answer/.test(e.message)) return e.message;
  if (e instanceof Error && /NOAUTH|WRONGPASS|invalid password/i.test(e.message)) {
    return 'Redis refused the connection without the right password: put it in REDIS_URL (redis://:PASSWORD@HOST:6379)';
  }
  return undefined;
}

async function runRole(name: string, start: (env: NodeJS.ProcessEnv) => Promise<RoleHandle>): Promise<number> {
  let handle: RoleHandle;
  try {
    handle = await start(process.env);
  } catch (err) {
    const why = explain(err);
    if (why === undefined) throw err;
    process.stderr.write(`matrix-notary ${name}: ${why}\n`);
    return 1;
  }
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.stderr.write(`matrix-notary ${name}: ${signal} received, stopping\n`);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  await handle.stop();
  return 0;
}

async function generateKey(args: string[]): Promise<number> {
  const outIndex = args.indexOf('--out');
  if (args.length > 0 && (outIndex !== 0 || args.length !== 2)) {
    process.stderr.write('usage: matrix-notary generate-key [--out FILE]\n');
    return 2;
  }
  const text = generateSigningKeyFile();
  if (outIndex < 0) {
    process.stdout.write(text);
    return 0;
  }
  const file = args[1];
  try {
    await writeSigningKeyFile(file, parseSigningKeyFile(text, '(new key)').key);
  } catch (err) {
    process.stderr.write(`matrix-notary generate-key: ${(err as Error).message}\n`);
    return 1;
  }
  process.stderr.write(`wrote a new signing key to ${file}\n`);
  return 0;
}

export async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  let code: number;
  if (command !== undefined && ROLES[command]) {
    code = await runRole(command, ROLES[command]);
  } else if (command === 'generate-key') {
    code = await generateKey(args);
  } else if (command === 'verify-event') {
    code = await runVerifyEvent(args, { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env });
  } else if (command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    code = 0;
  } else {
    process.stderr.write(command ? `matrix-notary: unknown command "${command}"\n\n${USAGE}` : USAGE);
    code = 2;
  }
  process.exitCode = code;
  // Roles close their connections on stop; a forced exit guards against a straggling handle.
  if (command !== undefined && ROLES[command]) setTimeout(() => process.exit(code), 3000).unref();
}
