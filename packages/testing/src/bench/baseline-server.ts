/**
 * The baseline of the benchmark, run as its own process: a bare node:http server that answers
 * each route with fixed bytes (the notary's own answers, captured by the bench), with the same
 * header shape and server options as the notary's hot path. A POST is answered after its body is
 * read, as any real server must. Usage: baseline-server.js PORT ROUTES_FILE, where ROUTES_FILE is
 * JSON {"GET /path": "body file", "POST /path": "body file"}. GET /_baseline/ready answers 204.
 */
import fs from 'node:fs';
import http from 'node:http';

const [portText, routesFile] = process.argv.slice(2);
const port = Number(portText);
if (!Number.isInteger(port) || port <= 0 || !routesFile) {
  process.stderr.write('usage: node baseline-server.js PORT ROUTES_FILE\n');
  process.exit(2);
}
const routes = new Map<string, Buffer>();
for (const [route, file] of Object.entries(JSON.parse(fs.readFileSync(routesFile, 'utf8')) as Record<string, string>)) {
  routes.set(route, fs.readFileSync(file));
}

// The notary's fast path sends a flat header array; so does this.
const answer = (res: http.ServerResponse, body: Buffer) => {
  res.writeHead(200, ['content-type', 'application/json', 'content-length', String(body.length)]);
  res.end(body);
};
const notFound = (res: http.ServerResponse) => {
  res.writeHead(404, ['content-type', 'text/plain', 'content-length', '0']);
  res.end();
};

// The same options as the notary's public listener (packages/api/src/start.ts), so both send the
// same Keep-Alive header.
const server = http.createServer({ keepAliveTimeout: 65_000, requestTimeout: 30_000, headersTimeout: 20_000 }, (req, res) => {
  if (req.url === '/_baseline/ready') {
    res.writeHead(204).end();
    return;
  }
  const body = routes.get(`${req.method} ${req.url}`);
  if (req.method !== 'POST') {
    if (body === undefined) notFound(res);
    else answer(res, body);
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    Buffer.concat(chunks);
    if (body === undefined) notFound(res);
    else answer(res, body);
  });
});
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
// The bench's cleanup kills this process; should the bench die first, its parent becomes init.
setInterval(() => {
  if (process.ppid === 1) process.exit(0);
}, 1000).unref();
