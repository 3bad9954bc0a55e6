/**
 * Helpers for the signer tests: a fixed notary key (so leak checks know exactly what to look for),
 * signed origin responses, a log capture with a real pino logger, and a raw HTTP client.
 */
import * as http from 'node:http';
import { Writable } from 'node:stream';
import pino from 'pino';
import {
  encodeBase64,
  keyPairFromSeed,
  signJson,
  type Ed25519KeyPair,
  type JsonObject,
} from '@matrix-notary/protocol';
import type { SigningKey } from '@matrix-notary/signer';

export const NOTARY_NAME = 'notary.example';
export const NOW_MS = 1_700_000_000_000;
export const DAY_MS = 24 * 60 * 60 * 1000;

/** The notary's test seed: bytes 101..132, so it appears nowhere by accident. */
export const NOTARY_SEED = Uint8Array.from({ length: 32 }, (_, i) => 101 + i);
export const NOTARY_KEY: SigningKey = { version: 'a_Test', seed: NOTARY_SEED };

/** Every spelling of the notary's private key material a leak could take. */
export function secretSpellings(): string[] {
  const seed = Buffer.from(NOTARY_SEED);
  // libsodium's 64-byte secret key (seed ‖ public key) and the PKCS#8 form OpenSSL keeps it in.
  const secret = Buffer.concat([seed, keyPairFromSeed(NOTARY_SEED).publicKey]);
  const pkcs8 = keyPairFromSeed(NOTARY_SEED).secretKey.export({ format: 'der', type: 'pkcs8' });
  return [
    encodeBase64(seed),
    seed.toString('base64'),
    seed.toString('base64url'),
    seed.toString('hex'),
    seed.toString('hex').toUpperCase(),
    encodeBase64(secret),
    secret.toString('hex'),
    pkcs8.toString('base64'),
    pkcs8.toString('hex'),
    // the seed's bytes as a list, as util.inspect or JSON.stringify of a Uint8Array shows them
    Array.from(seed.subarray(0, 8)).join(','),
    Array.from(seed.subarray(0, 8)).join(', '),
  ];
}

export function expectNoSecret(text: string): void {
  for (const s of secretSpellings()) expect(text).not.toContain(s);
}

export function originKeyPair(): Ed25519KeyPair {
  return keyPairFromSeed(new Uint8Array(32).fill(1));
}

/** An origin's self-signed key response, as the bytes it would send. */
export function originResponseBytes(opts: { serverName?: string; extra?: JsonObject; sign?: boolean } = {}): Buffer {
  return Buffer.from(JSON.stringify(originResponse(opts)));
}

export function originResponse(opts: { serverName?: string; extra?: JsonObject; sign?: boolean } = {}): JsonObject {
  const serverName = opts.serverName ?? 'origin.example';
  const kp = originKeyPair();
  const body: JsonObject = {
    server_name: serverName,
    valid_until_ts: NOW_MS + DAY_MS,
    verify_keys: { 'ed25519:o1': { key: encodeBase64(kp.publicKey) } },
    old_verify_keys: {},
    ...opts.extra,
  };
  return opts.sign === false ? body : (signJson(body, serverName, 'ed25519:o1', kp.secretKey) as JsonObject);
}

/** A real pino logger at the most verbose level, writing into `text()`. */
export function captureLogs(): { logger: pino.Logger; text: () => string } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = pino({ level: 'trace' }, stream);
  return { logger, text: () => lines.join('') };
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json: () => Record<string, unknown>;
}

/** One request to 127.0.0.1 on a fresh connection; `chunked` sends the body without a length. */
export function rawRequest(
  port: number,
  opts: { method?: string; path: string; headers?: http.OutgoingHttpHeaders; body?: Buffer; chunked?: boolean },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const headers = { ...opts.headers };
    if (opts.body && !opts.chunked) headers['Content-Length'] = opts.body.length;
    const req = http.request(
      { host: '127.0.0.1', port, method: opts.method ?? 'GET', path: opts.path, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            json: () => JSON.parse(body.toString('utf8')) as Record<string, unknown>,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (opts.body && opts.chunked) {
      // Several writes, so the size cap is met while streaming rather than from a header.
      for (let i = 0; i < opts.body.length; i += 1024) req.write(opts.body.subarray(i, i + 1024));
      req.end();
    } else {
      req.end(opts.body);
    }
  });
}
