#!/usr/bin/env node
'use strict';
// The compiled CLI lives in dist/; `npm ci` builds it (the root "prepare" script runs `tsc -b`).
let cli;
try {
  cli = require('../dist/main.js');
} catch (err) {
  if (err && err.code === 'MODULE_NOT_FOUND' && String(err.message).includes('dist/main.js')) {
    console.error('matrix-notary: the CLI is not built yet; run `npm run build` in the repository root.');
    process.exit(2);
  }
  throw err;
}
// main() answers what a person can fix with one line and an exit code; a failure that still
// reaches here gets one line too (and, when nothing explains it, the stack for a bug report),
// never Node's unhandled-rejection dump.
cli.main(process.argv.slice(2)).catch((err) => {
  const why = cli.explain(err);
  if (why !== undefined) {
    process.stderr.write(`matrix-notary: ${why}\n`);
  } else {
    const message = err instanceof Error ? err.message : String(err);
    const stack = err instanceof Error && err.stack ? `${err.stack}\n` : '';
    process.stderr.write(`matrix-notary: unexpected error (please report it, with what follows): ${message}\n${stack}`);
  }
  process.exit(1);
});
