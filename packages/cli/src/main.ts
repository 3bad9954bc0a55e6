/**
 * `matrix-notary <command>`: runs a role, or a one-off command. Start-up problems a person can fix
 * end in one line on standard error saying what is wrong and how to fix it, and exit code 1; bad
 * usage exits 2. Roles log JSON lines on standard output.
 */
import { ConfigError, type Logger } from '@matrix-notary/common';
import { KeyFileError } from '@matrix-notary/signer';
import { SignerUnavailableError } from '@matrix-notary/signer-client';
import { RedisStartupError } from '@matrix-notary/store';
import { EmbeddedRedisUnavailable } from './embedded-redis';
import { generateKey } from './generate-key';
import { cliVersion, ROLE_HELP, USAGE } from './help';
import { startAll, startApiRole, startSignerRole, startWorkerRole, type RoleHandle } from './roles';
import { runInspect } from './inspect';
import { runKeys } from './keys-evict';
import { runVerifyEvent } from './verify-event';

const ROLES: Record<string, (env: NodeJS.ProcessEnv) => Promise<RoleHandle>> = {
  all: startAll,
  api: startApiRole,
  worker: startWorkerRole,
  signer: startSignerRole,
};

/** How long a stopping role may take before the process exits anyway (and says so). */
const STOP_GRACE_MS = 10_000;

/** The one line a person needs for a start-up failure we can explain, or undefined. */
export function explain(err: unknown): string | undefined {
  const explained = [ConfigError, RedisStartupError, EmbeddedRedisUnavailable, KeyFileError, SignerUnavailableError];
  if (explained.some((type) => err instanceof type)) return (err as Error).message;
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if (e?.code === 'EADDRINUSE') {
    return `port ${e.port} on ${e.address} is already in use: stop what uses it or choose another port (NOTARY_PORT, NOTARY_METRICS_PORT, NOTARY_SIGNER_PORT)`;
  }
  if (e?.code === 'EADDRNOTAVAIL') {
    return `cannot listen on ${e.address}: it is not an address of this machine (NOTARY_BIND, NOTARY_METRICS_BIND, NOTARY_SIGNER_BIND)`;
  }
  if (e?.code === 'EACCES' && e.port !== undefined) return `not allowed to listen on port ${e.port}: choose a port above 1024 or run with the needed privilege`;
  return undefined;
}

async function runRole(name: string, start: (env: NodeJS.ProcessEnv) => Promise<RoleHandle>, args: string[]): Promise<number> {
  if (args.length > 0) {
    const help = args.length === 1 && (args[0] === '--help' || args[0] === '-h');
    (help ? process.stdout : process.stderr).write(help ? ROLE_HELP[name] : `matrix-notary ${name}: unexpected argument ${JSON.stringify(args[0])}\n\n${ROLE_HELP[name]}`);
    return help ? 0 : 2;
  }
  // Signals are watched from the start: one that comes while the role is still starting stops
  // it as soon as it has started (and a second one, at any time, exits at once).
  let signal: NodeJS.Signals | undefined;
  let stopping: Logger | undefined;
  let wake = (): void => undefined;
  const onSignal = (received: NodeJS.Signals) => {
    if (signal !== undefined) {
      (stopping ?? console).error(`second signal (${received}) while stopping: exiting now`);
      process.exit(1);
    }
    signal = received;
    wake();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let handle: RoleHandle;
  try {
    handle = await start(process.env);
  } catch (err) {
    const why = explain(err);
    if (why === undefined) throw err;
    process.stderr.write(`matrix-notary ${name}: ${why}\n`);
    return 1;
  }
  if (signal === undefined) await new Promise<void>((resolve) => (wake = resolve));
  stopping = handle.logger;
  handle.logger.info({ signal }, 'stopping');
  setTimeout(() => {
    handle.logger.error(`did not stop within ${STOP_GRACE_MS / 1000} s: exiting now`);
    process.exit(1);
  }, STOP_GRACE_MS).unref();
  await handle.stop();
  handle.logger.info('stopped');
  // Everything the role opened is closed; exit now rather than wait on a stray timer or socket.
  process.exit(0);
}

export async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  let code: number;
  if (command !== undefined && ROLES[command]) {
    code = await runRole(command, ROLES[command], args);
  } else if (command === 'generate-key') {
    code = await generateKey(args, process.stdout, process.stderr);
  } else if (command === 'verify-event') {
    code = await runVerifyEvent(args, { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env });
  } else if (command === 'inspect' || command === 'keys') {
    code = await (command === 'inspect' ? runInspect : runKeys)(args, { stdout: process.stdout, stderr: process.stderr, env: process.env });
  } else if (command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    code = 0;
  } else if (command === '--version' || command === '-V' || command === 'version') {
    process.stdout.write(`matrix-notary ${cliVersion()}\n`);
    code = 0;
  } else {
    process.stderr.write(command ? `matrix-notary: unknown command "${command}"\n\n${USAGE}` : USAGE);
    code = 2;
  }
  process.exitCode = code;
}
