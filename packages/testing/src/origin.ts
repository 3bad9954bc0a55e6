/**
 * A stand-in for an origin homeserver: a real HTTPS server on 127.0.0.1 (certificate from the
 * test CA) that answers GET /_matrix/key/v2/server with a response signed by its own keys. Tests
 * change what it serves (rotate, revoke, go offline, lie) and count how often it was asked.
 */
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import {
  canonicalJsonBytes,
  encodeBase64,
  generateSeed,
  keyPairFromSeed,
  signJson,
  type Ed25519KeyPair,
} from '@matrix-notary/protocol';
import type { TestCa } from './tls';

export type OriginMode =
  | 'normal'
  /** Accepts the connection and closes it at once. */
  | 'offline'
  /** Answers 200 with a body that is not JSON. */
  | 'garbage'
  /** Accepts the request and never answers. */
  | 'hang';

export interface OriginKey {
  keyId: string;
  pair: Ed25519KeyPair;
  publicKeyBase64: string;
}

export interface FakeOriginOptions {
  ca: TestCa;
  bind?: string;
}

export class FakeOrigin {
  serverName = '';
  port = 0;
  mode: OriginMode = 'normal';
  /** Requests for /_matrix/key/v2/server received so far. */
  fetches = 0;
  /** The client's port of the latest such request (which process is fetching, for fault tests). */
  lastClientPort?: number;
  validUntilTs = Date.now() + 24 * 60 * 60 * 1000;
  /** Keys listed in verify_keys (and signing the response, unless signWith says otherwise). */
  current: OriginKey[] = [];
  /** Keys listed in old_verify_keys, with their expired_ts. */
  old: Array<{ key: OriginKey; expiredTs: number }> = [];
  /** Extra top-level fields to include (covered by the signature). */
  extraFields: Record<string, unknown> = {};
  /** When set, replaces the whole response object (signed as given, or not at all). */
  override?: () => unknown;
  /** When set, the exact body text served (for JSON that canonical JSON cannot express). */
  rawBody?: () => string;
  /** Milliseconds to wait before answering (a slow origin). */
  delayMs = 0;
  /** While set (see hold()), key requests are answered only once it resolves. */
  private held?: Promise<void>;
  /** The server_name to claim; defaults to the real one. */
  claimedName?: string;

  private server?: https.Server;
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly opts: FakeOriginOptions) {}

  static async start(opts: FakeOriginOptions): Promise<FakeOrigin> {
    const origin = new FakeOrigin(opts);
    await origin.listen();
    origin.current = [FakeOrigin.newKey('ed25519:a1')];
    return origin;
  }

  static newKey(keyId: string): OriginKey {
    const pair = keyPairFromSeed(generateSeed());
    return { keyId, pair, publicKeyBase64: encodeBase64(pair.publicKey) };
  }

  private async listen(): Promise<void> {
    const bind = this.opts.bind ?? '127.0.0.1';
    const cert = await this.opts.ca.issue({ ips: [bind] });
    const server = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
      if (req.url !== '/_matrix/key/v2/server' || req.method !== 'GET') {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"errcode":"M_UNRECOGNIZED","error":"no"}');
        return;
      }
      this.fetches++;
      this.lastClientPort = req.socket.remotePort;
      switch (this.mode) {
        case 'offline':
          req.socket.destroy();
          return;
        case 'hang':
          return;
        case 'garbage':
          res.writeHead(200, { 'content-type': 'application/json' }).end('<html>this is not JSON</html>');
          return;
        default: {
          const body = this.rawBody ? Buffer.from(this.rawBody()) : canonicalJsonBytes(this.response());
          const answer = () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }).end(body);
          if (this.held !== undefined) void this.held.then(answer);
          else if (this.delayMs > 0) setTimeout(answer, this.delayMs);
          else answer();
        }
      }
    });
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, bind, () => resolve()));
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    this.serverName = `${bind}:${this.port}`;
  }

  /**
   * Holds every key response (requests are counted, answers wait) until the returned function is
   * called: a test sees what the notary does while a fetch of this origin is still in flight.
   */
  hold(): () => void {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    this.held = held;
    return () => {
      if (this.held === held) this.held = undefined;
      release();
    };
  }

  /** The response this origin serves now, signed by every current key. */
  response(): Record<string, unknown> {
    if (this.override) return this.override() as Record<string, unknown>;
    return this.sign(this.unsignedResponse());
  }

  unsignedResponse(): Record<string, unknown> {
    const verify_keys: Record<string, { key: string }> = {};
    for (const k of this.current) verify_keys[k.keyId] = { key: k.publicKeyBase64 };
    const old_verify_keys: Record<string, { key: string; expired_ts: number }> = {};
    for (const { key, expiredTs } of this.old) old_verify_keys[key.keyId] = { key: key.publicKeyBase64, expired_ts: expiredTs };
    return {
      server_name: this.claimedName ?? this.serverName,
      valid_until_ts: this.validUntilTs,
      verify_keys,
      old_verify_keys,
      ...this.extraFields,
    };
  }

  sign(obj: Record<string, unknown>, keys: OriginKey[] = this.current): Record<string, unknown> {
    let signed = obj;
    for (const k of keys) signed = signJson(signed, this.claimedName ?? this.serverName, k.keyId, k.pair.secretKey);
    return signed;
  }

  /** Moves the current keys to old_verify_keys (expired now) and starts using a new key. */
  rotate(newKeyId: string, expiredTs = Date.now()): OriginKey {
    for (const key of this.current) this.old.push({ key, expiredTs });
    const fresh = FakeOrigin.newKey(newKeyId);
    this.current = [fresh];
    return fresh;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    this.server = undefined;
  }
}
