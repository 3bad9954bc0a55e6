'use strict';
const fs = require('node:fs');

module.exports = async function globalTeardown() {
  const state = globalThis.__NOTARY_TEST_REDIS__;
  if (!state) return;
  await new Promise((resolve) => {
    state.child.once('exit', resolve);
    state.child.kill('SIGTERM');
    setTimeout(resolve, 3000).unref();
  });
  fs.rmSync(state.dir, { recursive: true, force: true });
};
