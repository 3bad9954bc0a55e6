/**
 * Many Matrix origins in one child process, for the benchmark: the test DNS server answers every
 * origin's name with 127.0.0.1, and one HTTPS server (a wildcard certificate from the test CA)
 * answers GET /_matrix/key/v2/server for whichever origin the Host header names, with that
 * origin's own signed response, after its group's fixed latency. It counts fetches per origin, so
 * "one fetch per origin" is checked where the fetches land. Started with fork() and driven over
 * IPC (see origin-farm-client.ts); its CPU is its own, apart from the bench's and the notary's.
 */
import { createHash } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { canonicalJsonBytes, encodeBase64, keyPairFromSeed, signJson } from '@matrix-notary/protocol';
import { TestDnsServer } from '../dns-server';
import { FARM_KEY_ID as KEY_ID, originHost, originName, type FarmCounts, type FarmRequest, type FarmResponse, type FarmStart } from './origin-farm-protocol';


const VALIDITY_MS = 24 * 60 * 60 * 1000;

interface Origin {
  group: number;
  index: number;
  body: Buffer;
}

interface GroupState {
  prefix: string;
  delayMs: number;
  fetchesPerOrigin: Uint32Array;
  fetches: number;
}

let server: https.Server | undefined;
let dns: TestDnsServer | undefined;
const origins = new Map<string, Origin>();
const groups: GroupState[] = [];
let notFound = 0;

/** The origin's own response: one key (derived from its name, so runs are repeatable), signed by it. */
function signedResponse(serverName: string, validUntilTs: number): Buffer {
  const seed = createHash('sha256').update(`matrix-notary bench origin ${serverName}`).digest();
  const pair = keyPairFromSeed(new Uint8Array(seed));
  const response = {
    server_name: serverName,
    valid_until_ts: validUntilTs,
    verify_keys: { [KEY_ID]: { key: encodeBase64(pair.publicKey) } },
    old_verify_keys: {},
  };
  return canonicalJsonBytes(signJson(response, serverName, KEY_ID, pair.secretKey));
}

async function start(msg: FarmStart): Promise<{ httpsPort: number; dnsPort: number }> {
  dns = await TestDnsServer.start('127.0.0.1');
  const srv = https.createServer({ cert: msg.certPem, key: msg.keyPem, keepAliveTimeout: 5000 }, (req, res) => {
    const origin = req.method === 'GET' && req.url === '/_matrix/key/v2/server' ? origins.get(req.headers.host ?? '') : undefined;
    if (origin === undefined) {
      notFound++;
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"errcode":"M_NOT_FOUND","error":"no such origin here"}');
      return;
    }
    const group = groups[origin.group];
    group.fetches++;
    group.fetchesPerOrigin[origin.index]++;
    const send = () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': origin.body.length }).end(origin.body);
    if (group.delayMs > 0) setTimeout(send, group.delayMs);
    else send();
  });
  // A notary giving up on a connection mid-handshake is not the farm's problem.
  srv.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve());
  });
  server = srv;
  const httpsPort = (srv.address() as AddressInfo).port;
  const validUntilTs = Date.now() + VALIDITY_MS;
  msg.groups.forEach((g, gi) => {
    groups.push({ prefix: g.prefix, delayMs: g.delayMs, fetchesPerOrigin: new Uint32Array(g.count), fetches: 0 });
    for (let i = 0; i < g.count; i++) {
      const name = originName(g.prefix, i, msg.zone, httpsPort);
      origins.set(name, { group: gi, index: i, body: signedResponse(name, validUntilTs) });
      dns!.set(originHost(g.prefix, i, msg.zone), [{ type: 'A', address: '127.0.0.1', ttl: 3600 }]);
    }
  });
  return { httpsPort, dnsPort: dns.port };
}

function counts(): FarmCounts {
  const out: FarmCounts = { groups: {}, notFound, dnsQueries: dns?.queries.length ?? 0 };
  for (const g of groups) {
    let distinct = 0;
    let maxPerOrigin = 0;
    for (const n of g.fetchesPerOrigin) {
      if (n > 0) distinct++;
      if (n > maxPerOrigin) maxPerOrigin = n;
    }
    out.groups[g.prefix] = { fetches: g.fetches, distinct, maxPerOrigin, origins: g.fetchesPerOrigin.length };
  }
  return out;
}

async function handle(req: FarmRequest): Promise<unknown> {
  switch (req.cmd) {
    case 'start':
      return start(req.args);
    case 'counts':
      return counts();
    case 'stop':
      server?.closeAllConnections();
      await Promise.all([
        new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())),
        dns?.close(),
      ]);
      return null;
  }
}

process.on('message', (req: FarmRequest) => {
  handle(req).then(
    (result) => process.send?.({ id: req.id, ok: true, result } satisfies FarmResponse),
    (err: Error) => process.send?.({ id: req.id, ok: false, error: err.message } satisfies FarmResponse),
  );
});
// The IPC channel closes when the bench exits, however it exits: so does the farm.
process.on('disconnect', () => process.exit(0));
