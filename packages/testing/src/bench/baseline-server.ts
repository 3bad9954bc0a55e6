/**
 * The baseline of the benchmark, run as its own process: a bare node:http server that answers
 * every request with the same bytes (read from the file named on the command line), with the same
 * header shape and server options as the notary's hot path. Prints {"port": n} when listening and
 * exits when its stdin closes (the benchmark ended) or on SIGTERM.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: node baseline-server.js BODY_FILE\n');
  process.exit(2);
}
const body = fs.readFileSync(file);

// The same options as the notary's public listener (packages/api/src/start.ts), so both send the
// same Keep-Alive header.
const answer = (res: http.ServerResponse) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
};
const server = http.createServer({ keepAliveTimeout: 65_000, requestTimeout: 30_000, headersTimeout: 20_000 }, (req, res) => {
  if (req.method !== 'POST') return answer(res);
  // A POST is answered after its body is read, as any real server must: the fair baseline for
  // the notary's POST /query, which also reads (and parses) the body.
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    Buffer.concat(chunks);
    answer(res);
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
