/**
 * The origin key source over the real federation client, reading the notary's variables: a real
 * HTTPS origin on 127.0.0.1 with a certificate from the test CA.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { canonicalJsonBytes, type JsonObject } from '@matrix-notary/protocol';
import { createTestCa, startHttpsServer, type TestCa, type TestHttpsServer } from '@matrix-notary/testing';
import { createFederationOriginKeySourceFromEnv } from '../src';
import { DAY_MS, keyResponse, makeKey, type TestKey } from './helpers';

let ca: TestCa;
let origin: TestHttpsServer;
let serverName: string;
let key: TestKey;
let dir: string;
let caFile: string;

beforeAll(async () => {
  ca = await createTestCa();
  key = await makeKey('ed25519:f');
  const cert = await ca.issue({ ips: ['127.0.0.1'] });
  let response: JsonObject = {};
  origin = await startHttpsServer({
    host: '127.0.0.1',
    cert,
    handler: (req, res) => {
      if (req.url !== '/_matrix/key/v2/server') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(canonicalJsonBytes(response));
    },
  });
  serverName = `127.0.0.1:${origin.port}`;
  response = keyResponse({ serverName, current: [key], validUntilTs: Date.now() + DAY_MS });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyring-fed-'));
  caFile = path.join(dir, 'ca.pem');
  fs.writeFileSync(caFile, ca.caPem);
});

afterAll(async () => {
  await origin.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const query = () => ({ keys: new Map([[serverName, new Set(['ed25519:f'])]]), minimumValidUntilTs: 0 });

describe('origin key source over the federation client', () => {
  it('fetches and checks an origin allowed by NOTARY_ALLOWED_ADDRESSES, trusting NOTARY_FEDERATION_CA_FILE', async () => {
    const { source, close } = createFederationOriginKeySourceFromEnv({
      NOTARY_ALLOWED_ADDRESSES: '127.0.0.1/32',
      NOTARY_FEDERATION_CA_FILE: caFile,
    });
    try {
      const result = await source.fetchKeys(query());
      expect(result.failures).toEqual([]);
      expect(result.records).toEqual([expect.objectContaining({ serverName, keyId: 'ed25519:f', key: key.publicKeyBase64 })]);
    } finally {
      await close();
    }
  });

  it('refuses a loopback origin without NOTARY_ALLOWED_ADDRESSES or NOTARY_ALLOW_PRIVATE_ADDRESSES', async () => {
    const { source, close } = createFederationOriginKeySourceFromEnv({ NOTARY_FEDERATION_CA_FILE: caFile });
    try {
      const result = await source.fetchKeys(query());
      expect(result.records).toEqual([]);
      expect(result.failures).toEqual([expect.objectContaining({ serverName, reason: 'request_failed', message: expect.stringMatching(/^forbidden_address: /) })]);
    } finally {
      await close();
    }
  });

  it('refuses an origin whose certificate no trusted CA signed', async () => {
    const { source, close } = createFederationOriginKeySourceFromEnv({ NOTARY_ALLOW_PRIVATE_ADDRESSES: 'true' });
    try {
      const result = await source.fetchKeys(query());
      expect(result.failures[0]?.message).toMatch(/^tls: /);
    } finally {
      await close();
    }
  });
});
