'use strict';
// Preloaded into child processes under test (NODE_OPTIONS=--require ...): host names resolve
// only to loopback ('localhost'), every other name fails as an unknown host (ENOTFOUND), so a
// test of "REDIS_URL names a host that does not exist" never sends a DNS query off the machine.
const dns = require('node:dns');
const net = require('node:net');

const original = dns.lookup;
const originalPromise = dns.promises.lookup;
const allowed = (hostname) => net.isIP(hostname) !== 0 || hostname === 'localhost';

function refuse(hostname) {
  const err = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
  err.code = 'ENOTFOUND';
  err.errno = -3008;
  err.syscall = 'getaddrinfo';
  err.hostname = hostname;
  return err;
}

dns.lookup = function lookup(hostname, options, callback) {
  const cb = typeof options === 'function' ? options : callback;
  if (allowed(hostname)) return original.call(dns, hostname, options, callback);
  process.nextTick(() => cb(refuse(hostname)));
  return {};
};

dns.promises.lookup = async function lookup(hostname, options) {
  if (allowed(hostname)) return originalPromise.call(dns.promises, hostname, options);
  throw refuse(hostname);
};
