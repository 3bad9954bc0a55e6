/**
 * HTTPS servers standing in for Matrix origins in tests: bound to a chosen loopback address and
 * port, recording what each request carried (Host header, TLS SNI) so tests can check discovery.
 */
import { spawnSync } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { IssuedCert } from './tls';

export interface RecordedRequest {
  method: string;
  path: string;
  host: string | undefined;
  /** The SNI the client sent, or false when it sent none. */
  sni: string | false;
}

export type OriginHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface TestHttpsServer {
  readonly address: string;
  readonly port: number;
  readonly requests: RecordedRequest[];
  /** TCP connections accepted, whether or not TLS or HTTP followed. */
  readonly connections: number;
  close(): Promise<void>;
}

export async function startHttpsServer(opts: {
  host: string;
  port?: number;
  cert: IssuedCert;
  handler: OriginHandler;
}): Promise<TestHttpsServer> {
  const requests: RecordedRequest[] = [];
  let connections = 0;
  const server = https.createServer({ cert: opts.cert.certPem, key: opts.cert.keyPem }, (req, res) => {
    requests.push({
      method: req.method ?? '',
      path: req.url ?? '',
      host: req.headers.host,
      sni: (req.socket as TLSSocket).servername ?? false,
    });
    opts.handler(req, res);
  });
  server.on('connection', (_socket: Socket) => {
    connections++;
  });
  // A client that gives up mid-handshake is expected in these tests, not an error.
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    address: opts.host,
    port: (server.address() as AddressInfo).port,
    requests,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Why `host:port` cannot be listened on, or null when it can. Synchronous (a child process), so a
 * test file can decide at load time which tests to skip.
 */
export function whyCannotListen(host: string, port: number): string | null {
  const script = `const s=require('net').createServer();s.on('error',e=>{process.stdout.write(e.code||e.message);process.exit(0)});s.listen(${port},${JSON.stringify(host)},()=>s.close())`;
  const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 5000 });
  if (run.error) return run.error.message;
  const out = run.stdout.trim();
  return out === '' ? null : `cannot listen on ${host.includes(':') ? `[${host}]` : host}:${port} (${out})`;
}
