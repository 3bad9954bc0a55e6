#!/usr/bin/env node
'use strict';
// The compiled CLI lives in dist/; `npm ci` builds it (the root "prepare" script runs `tsc -b`).
try {
  require('../dist/main.js').main(process.argv.slice(2));
} catch (err) {
  if (err && err.code === 'MODULE_NOT_FOUND' && String(err.message).includes('dist/main.js')) {
    console.error('matrix-notary: the CLI is not built yet; run `npm run build` in the repository root.');
    process.exit(2);
  }
  throw err;
}
