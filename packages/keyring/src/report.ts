/**
 * Verdicts for people: one block per event, one line per signature saying which key, which rule,
 * and why it passed or failed. Used by `matrix-notary verify-event`; other tools may print it too.
 */
import type { EventVerification, VerificationReport } from './keyring';
import type { KeySourceFailure } from './key-source';
import type { SignatureCheck } from './event-signatures';

const VERDICT_WORD = { valid: 'VALID', invalid: 'INVALID', undecided: 'UNDECIDED' } as const;

const OUTCOME_WORD: Record<SignatureCheck['outcome'], string> = {
  passed: 'ok',
  bad_signature: 'BAD SIGNATURE',
  malformed_signature: 'MALFORMED',
  key_outside_validity: 'KEY NOT VALID',
  key_not_found: 'KEY NOT FOUND',
  unsupported_algorithm: 'ignored',
};

const REQUIREMENT_WORD = {
  sender: "sender's server",
  event_id: "event_id's server",
  join_authorised_via_users_server: 'authorised the join',
} as const;

function timestamp(ms: number | null): string {
  if (ms === null) return 'unknown time';
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : `${ms} (${d.toISOString()})`;
}

function failuresFor(serverName: string, failures: readonly KeySourceFailure[]): KeySourceFailure[] {
  return failures.filter((f) => f.serverName === undefined || f.serverName === serverName);
}

export function formatEventVerification(
  event: EventVerification,
  failures: readonly KeySourceFailure[] = [],
  options: { strict?: boolean } = {},
): string {
  const lines: string[] = [];
  const label = event.eventId ?? `event #${event.index}`;
  lines.push(`${label}: ${VERDICT_WORD[event.verdict]}`);
  lines.push(`  sender ${event.sender ?? 'unknown'}, origin_server_ts ${timestamp(event.originServerTs)}`);
  for (const problem of event.problems) lines.push(`  problem: ${problem}`);
  for (const ex of event.exemptions) {
    lines.push(`  ${ex.serverName} need not sign: third-party invite (its ${REQUIREMENT_WORD[ex.requirement]} requirement is lifted)`);
  }
  if (event.servers.length === 0 && event.problems.length === 0) lines.push('  no server must sign this event');
  for (const server of event.servers) {
    const why = server.requiredBecause.map((r) => REQUIREMENT_WORD[r]).join(', ');
    lines.push(`  ${server.serverName} (${why}): ${VERDICT_WORD[server.verdict]}, ${server.reason}`);
    for (const sig of server.signatures) {
      lines.push(`    ${sig.keyId}: ${OUTCOME_WORD[sig.outcome]}, ${sig.reason}`);
      if (sig.outcome === 'key_not_found') {
        for (const f of failuresFor(server.serverName, failures)) lines.push(`      ${f.source}: ${f.message}`);
      }
    }
  }
  if (event.unrequiredSigners.length > 0) {
    lines.push(`  also signed by (not required, not checked): ${event.unrequiredSigners.join(', ')}`);
  }
  const hash = event.contentHash;
  const failsStrict = options.strict === true && hash.status !== 'match';
  lines.push(`  content hash: ${hash.status}${failsStrict ? ' (fails with --strict)' : ''}, ${hash.reason}`);
  return lines.join('\n');
}

export function formatVerificationReport(report: VerificationReport, options: { strict?: boolean } = {}): string {
  const blocks = report.events.map((e) => formatEventVerification(e, report.keySourceFailures, options));
  const count = (v: string) => report.events.filter((e) => e.verdict === v).length;
  const summary = [
    `${report.events.length} event(s) in room version ${report.roomVersion}:`,
    `${count('valid')} valid, ${count('invalid')} invalid, ${count('undecided')} undecided`,
  ].join(' ');
  // Origin sources already carry the server in their name (`origin example.org`).
  const failureLines = report.keySourceFailures.map(
    (f) => `  ${f.source}${f.serverName && !f.source.endsWith(f.serverName) ? ` (${f.serverName})` : ''}: ${f.message}`,
  );
  return [...blocks, ...(failureLines.length > 0 ? ['key source problems:', ...failureLines] : []), summary].join('\n') + '\n';
}
