/** What `matrix-notary --help` and `matrix-notary <command> --help` print. */
import fs from 'node:fs';
import path from 'node:path';

/** The version of the installed package (packages/cli/package.json, beside dist/). */
export function cliVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

export const USAGE = `usage: matrix-notary <command> [--help]

roles (configured by environment variables; see the README):
  all                   every role in one process (what \`npm start\` runs)
  api                   the public key API
  worker                fetches and refreshes origin servers' keys
  signer                holds the signing key; countersigns for api and worker

commands:
  generate-key [--out FILE]     make a new signing key; prints its key ID and public key
  verify-event ...              verify event signatures under room-version rules
  inspect SERVER [--json]       what the notary holds for SERVER (responses, key bindings, fetch state)
  keys evict SERVER [KEY_ID] [--json]
                                drop a key-ID binding (or everything held for SERVER)
  --version                     print the version
  help                          this text

\`matrix-notary <command> --help\` tells more about each.
`;

const ROLE_VARIABLES = `Configuration is by environment variables only (every one is in the README's table).`;

export const ROLE_HELP: Record<string, string> = {
  all: `usage: matrix-notary all

Runs every role in one process: the public API on NOTARY_PORT (8080), a worker, and the signer
in-process (no signer port). What \`npm start\` runs. On a first run it fills in what is missing:
a private redis-server under ./data/redis when nothing answers at redis://127.0.0.1:6379 and
REDIS_URL is unset, a signing key at ./data/signing.key when NOTARY_SIGNING_KEY_FILE is unset,
and the server name localhost:<port> (with a warning) when NOTARY_SERVER_NAME is unset.
${ROLE_VARIABLES} Stops cleanly on SIGTERM or Ctrl-C.
`,
  api: `usage: matrix-notary api

The public key API on NOTARY_PORT (GET /_matrix/key/v2/server, /query; POST /query), health
probes on /_notary/health/live and /ready, metrics on NOTARY_METRICS_PORT. Needs
NOTARY_SERVER_NAME, NOTARY_SIGNER_TOKEN (or NOTARY_SIGNER_TOKEN_FILE) and a signer at
NOTARY_SIGNER_URL. Stateless: run as many as the load needs, behind a load balancer.
${ROLE_VARIABLES}
`,
  worker: `usage: matrix-notary worker

Fetches origin servers' keys from the refresh queue, checks them, has the signer countersign
them and stores them in Redis. Metrics and GET /healthz on NOTARY_METRICS_PORT. Needs
NOTARY_SERVER_NAME, NOTARY_SIGNER_TOKEN (or NOTARY_SIGNER_TOKEN_FILE) and a signer at
NOTARY_SIGNER_URL; the token is checked at start. Run as many as the fetch load needs.
Origins it cannot reach, with nothing stored, are asked of NOTARY_UPSTREAM_NOTARIES_FILE's notaries.
${ROLE_VARIABLES}
`,
  signer: `usage: matrix-notary signer

Holds the notary's signing key (NOTARY_SIGNING_KEY_FILE) and answers api and worker roles on
NOTARY_SIGNER_BIND:NOTARY_SIGNER_PORT (127.0.0.1:8081) behind a bearer token
(NOTARY_SIGNER_TOKEN). Health on GET /healthz there; metrics on NOTARY_METRICS_PORT. One or two
replicas sharing the key file. The key file must exist: make one with \`matrix-notary generate-key --out FILE\`.
During a key rotation, NOTARY_EXTRA_SIGNING_KEY_FILES' keys sign every answer beside it.
${ROLE_VARIABLES}
`,
  'generate-key': `usage: matrix-notary generate-key [--out FILE]

Makes a new ed25519 signing key in Synapse's format (\`ed25519 <version> <base64 seed>\`).
With --out, writes it to FILE (mode 0600; an existing file is never overwritten); without, prints
it on standard output. Either way, the key ID and the public key (what homeservers pin in
trusted_key_servers) go to standard error.
`,
};
