/**
 * `matrix-notary verify-event`: verifies the signatures of Matrix events under a room version's
 * rules, with keys from pinned notaries or straight from the origins.
 *
 * Exit codes: 0 every event's signatures are valid; 1 a signature was checked and is invalid, or
 * its key was outside its validity (or, with --strict, a content hash does not match); 2 nothing
 * could be decided (bad usage, unreadable input, no trusted key obtainable). 1 wins over 2.
 */
import { promises as fs } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseStrictJson } from '@matrix-notary/protocol';
import {
  createFederationOriginKeySourceFromEnv,
  formatVerificationReport,
  Keyring,
  KNOWN_ROOM_VERSIONS,
  NotaryKeySource,
  type KeySource,
  type VerificationReport,
} from '@matrix-notary/keyring';

export interface VerifyEventIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
}

export const EXIT_VALID = 0;
export const EXIT_INVALID = 1;
export const EXIT_UNDECIDED = 2;

/** Larger inputs are refused rather than read into memory whole. */
export const MAX_INPUT_BYTES = 64 * 1024 * 1024;

export const VERIFY_EVENT_USAGE = `usage: matrix-notary verify-event --room-version N [--notary URL [--notary-key KEYID=BASE64 ...] ...]
                                  [--insecure-notary] [--json] [--strict] FILE|-

Verifies the signatures of the event (or JSON array of events) in FILE, or on standard input with -.

  --room-version N       the room version of the events (${KNOWN_ROOM_VERSIONS[0]} to ${KNOWN_ROOM_VERSIONS[KNOWN_ROOM_VERSIONS.length - 1]})
  --notary URL           get keys from this notary (repeatable; asked in order)
  --notary-key ID=KEY    pin a key of the --notary before it, e.g. ed25519:abc=l8Hft5qXKn1vfHrg3p4+W8gELQVo8N13JkluMfmn2sQ
  --insecure-notary      accept a --notary without pinned keys (trusts whatever keys it advertises)
  --json                 print the result as JSON (see the keyring README)
  --strict               also fail (exit 1) when a content hash is missing or does not match
Without --notary, keys are fetched from each origin server, under the notary's NOTARY_* variables.
Exit: 0 all valid; 1 a signature is invalid or its key was outside its validity; 2 could not decide.
`;

export interface NotaryArg {
  url: string;
  pinnedKeys: Record<string, string>;
}

export interface VerifyEventArgs {
  roomVersion: string;
  notaries: NotaryArg[];
  insecureNotary: boolean;
  json: boolean;
  strict: boolean;
  /** A path, or '-' for standard input. */
  input: string;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Parses the arguments; throws UsageError. Returns null for --help. */
export function parseVerifyEventArgs(argv: string[]): VerifyEventArgs | null {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      tokens: true,
      options: {
        'room-version': { type: 'string' },
        notary: { type: 'string', multiple: true },
        'notary-key': { type: 'string', multiple: true },
        'insecure-notary': { type: 'boolean' },
        json: { type: 'boolean' },
        strict: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const values = parsed.values as Record<string, unknown>;
  if (values.help === true) return null;

  // Each --notary-key belongs to the --notary before it, so the order of the options matters.
  const notaries: NotaryArg[] = [];
  for (const token of parsed.tokens ?? []) {
    if (token.kind !== 'option') continue;
    if (token.name === 'notary') {
      const url = token.value ?? '';
      let protocol: string;
      try {
        protocol = new URL(url).protocol;
      } catch {
        throw new UsageError(`--notary ${JSON.stringify(url)} is not a URL`);
      }
      if (protocol !== 'https:' && protocol !== 'http:') throw new UsageError(`--notary ${url} is not an http(s) URL`);
      notaries.push({ url, pinnedKeys: {} });
    } else if (token.name === 'notary-key') {
      const current = notaries[notaries.length - 1];
      if (current === undefined) throw new UsageError('--notary-key must follow the --notary whose key it pins');
      const text = token.value ?? '';
      const eq = text.indexOf('=');
      if (eq <= 0 || eq === text.length - 1) throw new UsageError(`--notary-key ${JSON.stringify(text)} is not KEYID=BASE64`);
      current.pinnedKeys[text.slice(0, eq)] = text.slice(eq + 1);
    }
  }

  const roomVersion = values['room-version'];
  if (typeof roomVersion !== 'string') throw new UsageError('--room-version is required');
  if (!KNOWN_ROOM_VERSIONS.includes(roomVersion)) {
    throw new UsageError(`--room-version ${roomVersion} is not a room version this tool knows (${KNOWN_ROOM_VERSIONS.join(', ')})`);
  }
  const insecureNotary = values['insecure-notary'] === true;
  if (insecureNotary && notaries.length === 0) throw new UsageError('--insecure-notary needs a --notary');
  if (parsed.positionals.length !== 1) throw new UsageError('give exactly one FILE, or - for standard input');
  return {
    roomVersion,
    notaries,
    insecureNotary,
    json: values.json === true,
    strict: values.strict === true,
    input: parsed.positionals[0] as string,
  };
}

async function readStream(stream: NodeJS.ReadableStream, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buf.length;
    if (size > maxBytes) throw new Error(`standard input is over ${maxBytes} bytes`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

async function readInput(input: string, stdin: NodeJS.ReadableStream): Promise<Buffer> {
  if (input === '-') return readStream(stdin, MAX_INPUT_BYTES);
  const stat = await fs.stat(input);
  if (!stat.isFile()) throw new Error(`${input} is not a file`);
  if (stat.size > MAX_INPUT_BYTES) throw new Error(`${input} is over ${MAX_INPUT_BYTES} bytes`);
  return fs.readFile(input);
}

/** One event or a non-empty JSON array of events. */
export function parseEvents(text: string): unknown[] {
  // Strict parsing: floats, huge integers and duplicate keys would be changed by JSON.parse and
  // make the signed bytes differ from what the server signed.
  const value = parseStrictJson(text);
  if (Array.isArray(value)) {
    if (value.length === 0) throw new Error('the input is an empty array: no event to verify');
    return value;
  }
  if (typeof value === 'object' && value !== null) return [value];
  throw new Error('the input is neither an event (a JSON object) nor an array of events');
}

/** 1 wins over 2: a proven bad signature matters more than what could not be decided. */
export function exitCodeFor(report: VerificationReport, strict: boolean): number {
  const hashFails = strict && report.events.some((e) => e.contentHash.status === 'mismatch' || e.contentHash.status === 'missing');
  if (report.verdict === 'invalid' || hashFails) return EXIT_INVALID;
  if (report.verdict === 'undecided') return EXIT_UNDECIDED;
  return EXIT_VALID;
}

interface KeySourceDescription {
  kind: 'notary' | 'origin';
  url?: string;
  serverName?: string;
  trust?: 'pinned' | 'insecure';
}

function write(stream: NodeJS.WritableStream, text: string): Promise<void> {
  return new Promise((resolve) => {
    if (stream.write(text)) resolve();
    else stream.once('drain', resolve);
  });
}

export async function runVerifyEvent(argv: string[], io: VerifyEventIo): Promise<number> {
  let args: VerifyEventArgs | null;
  try {
    args = parseVerifyEventArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    await write(io.stderr, `matrix-notary verify-event: ${err.message}\n\n${VERIFY_EVENT_USAGE}`);
    return EXIT_UNDECIDED;
  }
  if (args === null) {
    await write(io.stdout, VERIFY_EVENT_USAGE);
    return EXIT_VALID;
  }
  const opts = args;

  // Failures from here on are about the input or the key sources, not the usage: still exit 2,
  // and with --json still a JSON answer on stdout so scripts need not parse stderr.
  const fail = async (message: string): Promise<number> => {
    await write(io.stderr, `matrix-notary verify-event: ${message}\n`);
    if (opts.json) await write(io.stdout, JSON.stringify({ exitCode: EXIT_UNDECIDED, error: message }, null, 2) + '\n');
    return EXIT_UNDECIDED;
  };

  let events: unknown[];
  try {
    events = parseEvents((await readInput(opts.input, io.stdin)).toString('utf8'));
  } catch (err) {
    return fail(`cannot read events from ${opts.input === '-' ? 'standard input' : opts.input}: ${(err as Error).message}`);
  }

  const sources: KeySource[] = [];
  const descriptions: KeySourceDescription[] = [];
  let close = async (): Promise<void> => undefined;
  try {
    if (opts.notaries.length > 0) {
      for (const n of opts.notaries) {
        const source = new NotaryKeySource({ url: n.url, pinnedKeys: n.pinnedKeys, insecure: opts.insecureNotary });
        // Identify each notary first: a notary failing its pin is a setup error worth a clear message.
        const identity = await source.identify();
        sources.push(source);
        descriptions.push({ kind: 'notary', url: n.url, serverName: identity.serverName, trust: identity.trust });
      }
    } else {
      const origin = createFederationOriginKeySourceFromEnv(io.env);
      sources.push(origin.source);
      descriptions.push({ kind: 'origin' });
      close = origin.close;
    }
  } catch (err) {
    return fail((err as Error).message);
  }

  try {
    const report = await new Keyring({ sources }).verifyEvents(events, opts.roomVersion);
    const exitCode = exitCodeFor(report, opts.strict);
    if (opts.json) {
      const output = {
        exitCode,
        roomVersion: report.roomVersion,
        verdict: report.verdict,
        strict: opts.strict,
        checkedAtMs: report.checkedAtMs,
        keySources: descriptions,
        keySourceFailures: report.keySourceFailures,
        events: report.events,
      };
      await write(io.stdout, JSON.stringify(output, null, 2) + '\n');
    } else {
      const trust = descriptions
        .map((d) => (d.kind === 'origin' ? 'keys from the origin servers' : `keys from notary ${d.serverName} at ${d.url} (${d.trust === 'pinned' ? 'pinned' : 'INSECURE: not pinned'})`))
        .join('; ');
      await write(io.stdout, `${trust}\n${formatVerificationReport(report, { strict: opts.strict })}`);
    }
    return exitCode;
  } finally {
    await close();
  }
}
