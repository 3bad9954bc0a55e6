'use strict';
// Starts one private redis-server for the whole test run on a free loopback port, so tests never
// depend on (or disturb) a Redis the machine may or may not have. Suites isolate themselves further
// with a unique NOTARY_REDIS_PREFIX each.
const { spawn } = require('node:child_process');
const net = require('node:net');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPing(port, deadlineMs) {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.setTimeout(500);
      s.on('connect', () => s.write('PING\r\n'));
      s.on('data', (d) => { s.destroy(); resolve(d.toString().startsWith('+PONG')); });
      s.on('error', () => resolve(false));
      s.on('timeout', () => { s.destroy(); resolve(false); });
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`test redis-server on port ${port} did not answer PING`);
}

module.exports = async function globalSetup() {
  if (process.env.NOTARY_TEST_REDIS_URL) return; // an outer runner already provides one
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'notary-test-redis-'));
  const child = spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', dir, '--maxmemory-policy', 'noeviction',
  ], { stdio: 'ignore', detached: false });
  child.on('error', (err) => {
    console.error(`could not start redis-server for the tests (${err.message}); install it (apt-get install redis-server)`);
  });
  await waitForPing(port, 10000);
  process.env.NOTARY_TEST_REDIS_URL = `redis://127.0.0.1:${port}`;
  globalThis.__NOTARY_TEST_REDIS__ = { child, dir };
};
