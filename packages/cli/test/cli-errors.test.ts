/**
 * What a person sees who got something wrong, as they run it: the built CLI as a child process.
 * Each mistake gets exactly one line on stderr naming the variable (or file) and the fix, exit
 * code 1, and no stack trace; usage mistakes exit 2.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assertBuilt, runCli } from './processes';

jest.setTimeout(60_000);

let cwd: string;

beforeAll(() => {
  assertBuilt();
  // `all` may create ./data: never in the repository.
  cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'notary-cli-errors-'));
});

afterAll(() => fs.rmSync(cwd, { recursive: true, force: true }));

const SPLIT = { NOTARY_SERVER_NAME: 'n.example', NOTARY_SIGNER_TOKEN: 'x'.repeat(20) };
/** Nothing listens on port 1: a role that got as far as Redis would fail differently. */
const NO_REDIS = { REDIS_URL: 'redis://127.0.0.1:1' };

/** Runs and returns stderr's lines; the exit code must be `code` and stdout must hold no error. */
async function failure(args: string[], env: Record<string, string>, code = 1): Promise<string[]> {
  const res = await runCli(args, env, 20_000, cwd);
  expect({ code: res.code, stderr: res.stderr }).toEqual({ code, stderr: expect.any(String) });
  expect(res.output).not.toMatch(/\n\s+at /); // no stack trace
  return res.stderr.trimEnd().split('\n');
}

test('a split role without NOTARY_SERVER_NAME and NOTARY_SIGNER_TOKEN names both, once each', async () => {
  const lines = await failure(['api'], NO_REDIS);
  expect(lines).toEqual([
    'matrix-notary api: 2 configuration problems:',
    '  - NOTARY_SERVER_NAME is required: set it for split roles (npm start / `matrix-notary all` fills it in for you)',
    '  - NOTARY_SIGNER_TOKEN is required: set it for split roles (npm start / `matrix-notary all` fills it in for you), or put it in a file named by NOTARY_SIGNER_TOKEN_FILE',
  ]);
});

test('an invalid value names the variable and does not echo a secret', async () => {
  const lines = await failure(['worker'], { NOTARY_SERVER_NAME: 'n.example', NOTARY_SIGNER_TOKEN: 'short' });
  expect(lines).toEqual(['matrix-notary worker: NOTARY_SIGNER_TOKEN must be at least 16 characters (use a long random string)']);
});

test('a bad server name is reported once, though every role of `all` reads it', async () => {
  const lines = await failure(['all'], { ...NO_REDIS, NOTARY_SERVER_NAME: 'bad name' });
  expect(lines).toEqual([
    'matrix-notary all: NOTARY_SERVER_NAME is refused: it is not a valid server name (a server name looks like notary.example.org or notary.example.org:8448)',
  ]);
});

test('a server name in another spelling than the canonical one is refused, naming the canonical one', async () => {
  const lines = await failure(['signer'], { ...SPLIT, NOTARY_SERVER_NAME: 'Notary.Example.org' });
  expect(lines).toEqual([
    'matrix-notary signer: NOTARY_SERVER_NAME is refused: it is not in canonical form (write "notary.example.org") (a server name looks like notary.example.org or notary.example.org:8448)',
  ]);
});

test('a bad NOTARY_PORT for `all` blames NOTARY_PORT only, not the server name made from it', async () => {
  const lines = await failure(['all'], { ...NO_REDIS, NOTARY_PORT: '80800' });
  expect(lines).toEqual(['matrix-notary all: NOTARY_PORT must be a whole number from 0 to 65535']);
});

test('a negative wait says what is allowed', async () => {
  const lines = await failure(['api'], { ...SPLIT, ...NO_REDIS, NOTARY_FETCH_WAIT_MS: '-5' });
  expect(lines).toEqual(['matrix-notary api: NOTARY_FETCH_WAIT_MS must be a whole number from 0 to 60000']);
});

test('an unknown log level is one line, not a logger stack trace', async () => {
  const lines = await failure(['all'], { ...NO_REDIS, NOTARY_LOG_LEVEL: 'verbose' });
  expect(lines).toEqual([
    'matrix-notary all: NOTARY_LOG_LEVEL Invalid option: expected one of "fatal"|"error"|"warn"|"info"|"debug"|"trace"|"silent"',
  ]);
});

test('bad DNS resolvers are refused at start, before Redis is asked', async () => {
  const lines = await failure(['worker'], { ...SPLIT, ...NO_REDIS, NOTARY_DNS_SERVERS: '127.0.0.1:5353,dns.example' });
  expect(lines).toEqual([
    'matrix-notary worker: NOTARY_DNS_SERVERS "dns.example" is not an IPv4 or IPv6 address (host names are not accepted: a resolver must be found without DNS); give resolvers as ip, ip:port or [ipv6]:port, separated by commas',
  ]);
});

test('`all` never creates a key at a path that was given: a missing key file is an error saying how to make one', async () => {
  const lines = await failure(['all'], { ...NO_REDIS, NOTARY_SIGNING_KEY_FILE: path.join(cwd, 'typo', 'signing.key') });
  const file = path.join(cwd, 'typo', 'signing.key');
  expect(lines).toEqual([`matrix-notary all: no signing key file at ${file}: create one with \`npx matrix-notary generate-key --out ${file}\``]);
  expect(fs.existsSync(file)).toBe(false);
});

test('the signer with a missing key file says how to create one', async () => {
  const lines = await failure(['signer'], { ...SPLIT, NOTARY_SIGNING_KEY_FILE: '/nonexistent/signing.key' });
  expect(lines).toEqual(['matrix-notary signer: no signing key file at /nonexistent/signing.key: create one with `npx matrix-notary generate-key --out /nonexistent/signing.key`']);
});

test('an unknown command prints the usage and exits 2', async () => {
  const res = await runCli(['frobnicate'], {});
  expect(res.code).toBe(2);
  expect(res.stderr).toMatch(/^matrix-notary: unknown command "frobnicate"\n\nusage: matrix-notary/);
});

test('a role given an argument it does not take exits 2 with its help', async () => {
  const res = await runCli(['worker', '--port', '1'], {});
  expect(res.code).toBe(2);
  expect(res.stderr).toMatch(/^matrix-notary worker: unexpected argument "--port"\n\nusage: matrix-notary worker/);
});

test('--help of each command prints its help and starts nothing', async () => {
  for (const command of ['all', 'api', 'worker', 'signer', 'generate-key', 'verify-event', 'inspect', 'keys']) {
    // No Redis, no key, no server name: a role that started anyway would fail, not print help.
    const res = await runCli([command, '--help'], {}, 20_000, cwd);
    expect({ command, code: res.code }).toEqual({ command, code: 0 });
    expect(res.stdout).toMatch(new RegExp(`^usage: matrix-notary ${command}`));
  }
  expect(fs.existsSync(path.join(cwd, 'data'))).toBe(false);
});

test('--version prints the version', async () => {
  const version = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', 'package.json'), 'utf8')).version as string;
  for (const flag of ['--version', '-V']) {
    const res = await runCli([flag], {});
    expect(res).toMatchObject({ code: 0, stdout: `matrix-notary ${version}\n` });
  }
});

/**
 * What bin/matrix-notary.js does with a failure main() lets through: a preloaded module makes
 * main() reject, as a failure no command catches would (the CLI itself is unchanged).
 */
function failingMain(thrown: string): Record<string, string> {
  const preload = path.join(cwd, `failing-main-${Math.random().toString(36).slice(2)}.js`);
  const main = JSON.stringify(path.resolve(__dirname, '..', 'dist', 'main.js'));
  fs.writeFileSync(preload, `const cli = require(${main});\ncli.main = async () => { throw ${thrown}; };\n`);
  return { NODE_OPTIONS: `--require ${preload}` };
}

test('a failure main() lets through that it can explain is one line and exit 1, not an unhandled rejection', async () => {
  const common = JSON.stringify(path.resolve(__dirname, '..', '..', 'common', 'dist', 'index.js'));
  const res = await runCli(['all'], failingMain(`new (require(${common}).ConfigError)(['NOTARY_PORT must be a whole number from 0 to 65535'])`));
  expect(res).toMatchObject({ code: 1, stdout: '', stderr: 'matrix-notary: NOTARY_PORT must be a whole number from 0 to 65535\n' });
});

test('a failure nothing explains says so in its first line, then gives the stack for a report; exit 1', async () => {
  const res = await runCli(['all'], failingMain("new Error('something no one expected')"));
  expect(res.code).toBe(1);
  const [first, ...rest] = res.stderr.trimEnd().split('\n');
  expect(first).toBe('matrix-notary: unexpected error (please report it, with what follows): something no one expected');
  expect(rest[0]).toBe('Error: something no one expected');
  expect(res.stderr).not.toMatch(/UnhandledPromiseRejection|triggerUncaughtException/);
});
