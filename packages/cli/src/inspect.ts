/**
 * `matrix-notary inspect SERVER [--json]`: what the notary holds for one server, read straight
 * from Redis: each stored response with its key IDs, validity and fetch time; the key-ID bindings
 * (MSC4499) with their history; the fetch state (next allowed fetch, failures in a row, last error
 * or refusal). The `--json` shape is OriginReport (packages/store/src/origin-report.ts).
 */
import { parseArgs } from 'node:util';
import { describeOriginRecord, type BindingReport, type OriginReport, type ResponseReport } from '@matrix-notary/store';
import { checkServerName, EXIT_OK, UsageError, withStore, type CommandIo } from './store-access';

export const INSPECT_USAGE = `usage: matrix-notary inspect SERVER [--json]

Shows what the notary holds for SERVER: stored responses, key-ID bindings with their history,
and the fetch state. Reads REDIS_URL and NOTARY_REDIS_PREFIX (and NOTARY_BANNED_KEYS_FILE, to mark
banned keys) like the roles. --json prints one JSON object (see the README).
`;

function parse(args: string[]): { serverName: string; json: boolean; help: boolean } {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (parsed.values.help) return { serverName: '', json: false, help: true };
  if (parsed.positionals.length > 1) throw new UsageError(`one server at a time (got ${parsed.positionals.length})`);
  return { serverName: checkServerName(parsed.positionals[0]), json: parsed.values.json === true, help: false };
}

export async function runInspect(args: string[], io: CommandIo, now: () => number = Date.now): Promise<number> {
  let request: ReturnType<typeof parse>;
  try {
    request = parse(args);
  } catch (err) {
    io.stderr.write(`matrix-notary inspect: ${(err as Error).message}\n\n${INSPECT_USAGE}`);
    return 2;
  }
  if (request.help) {
    io.stdout.write(INSPECT_USAGE);
    return EXIT_OK;
  }
  return withStore(io, 'inspect', INSPECT_USAGE, async ({ store, bannedKeys }) => {
    const record = await store.readRecord(request.serverName);
    const report = describeOriginRecord(request.serverName, record.fields, bannedKeys);
    io.stdout.write(request.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report, now()));
    return EXIT_OK;
  });
}

function time(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString();
}

function relative(ms: number, nowMs: number): string {
  const s = Math.round((ms - nowMs) / 1000);
  if (s === 0) return 'now';
  return s > 0 ? `in ${s} s` : `${-s} s ago`;
}

function formatResponse(r: ResponseReport): string[] {
  return [
    `  #${r.id}${r.latest ? ' (latest)' : ''}  ${r.learned_from === null ? 'fetched' : `learned from upstream ${r.learned_from}`} ${time(r.fetched_ts)}  valid until ${time(r.valid_until_ts)}  ${r.bytes} bytes`,
    `      verify_keys:     ${r.verify_keys.join(' ') || '-'}`,
    `      old_verify_keys: ${r.old_verify_keys.join(' ') || '-'}`,
    `      answers for:     ${r.answers_for.join(' ') || '-'}`,
  ];
}

function formatBinding(b: BindingReport): string[] {
  const answered = b.answered_by === null ? 'not answerable' : `answered by #${b.answered_by}`;
  return [
    `  ${b.key_id}  ${b.state}, ${answered}${b.provisional ? ', provisional (learned from an upstream notary)' : ''}${b.banned ? ', BANNED (never served)' : ''}`,
    `      key ${b.key}  (sha256 ${b.key_sha256})`,
    `      first seen ${time(b.first_seen_ts)}  last seen active ${time(b.last_seen_active_ts)}`,
    `      retired ${time(b.retired_ts)}  expired_ts ${time(b.expired_ts)}`,
  ];
}

export function formatReport(report: OriginReport, nowMs: number): string {
  if (!report.held) return `The notary holds nothing for ${report.server_name}.\n`;
  const f = report.fetch;
  const lines = [
    `Server ${report.server_name}`,
    '',
    `Responses (${report.responses.length}, newest first):`,
    ...(report.responses.length === 0 ? ['  none stored'] : report.responses.flatMap(formatResponse)),
    '',
    `Key bindings (${report.bindings.length}):`,
    ...(report.bindings.length === 0 ? ['  none'] : report.bindings.flatMap(formatBinding)),
    '',
    'Fetch state:',
    `  next fetch allowed  ${f.next_fetch_ts === null || f.next_fetch_ts <= nowMs ? 'now' : `${time(f.next_fetch_ts)} (${relative(f.next_fetch_ts, nowMs)})`}`,
    `  last stored         ${time(f.last_stored_ts)}`,
    `  failures in a row   ${f.failures_in_a_row}`,
    `  last failure        ${time(f.last_failure_ts)}`,
    ...(f.fetch_in_flight_until_ts !== null && f.fetch_in_flight_until_ts > nowMs ? [`  fetch in flight     until ${time(f.fetch_in_flight_until_ts)}`] : []),
    `  last error          ${f.last_error === null ? '-' : `${f.last_error.reason} at ${time(f.last_error.ts)}: ${f.last_error.message}`}`,
  ];
  return `${lines.join('\n')}\n`;
}
