import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createTestCa, selfSignedCert, certificateAltNames, type IssuedCert } from '@matrix-notary/testing';

async function serve(cert: IssuedCert): Promise<{ port: number; close: () => Promise<void> }> {
  const server = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (_req, res) => {
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function get(port: number, opts: https.RequestOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/', agent: false, ...opts }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
  });
}

describe('test certificate authority', () => {
  it('issues certificates that a client trusting caPem accepts, for the DNS name and the IP', async () => {
    const ca = await createTestCa();
    const cert = await ca.issue({ dns: ['origin.test'], ips: ['127.0.0.1'] });
    expect(certificateAltNames(cert.certPem)).toBe('DNS:origin.test, IP Address:127.0.0.1');
    const server = await serve(cert);
    try {
      await expect(get(server.port, { ca: ca.caPem, servername: 'origin.test' })).resolves.toBe('ok');
      // No servername: Node checks the certificate against the IP connected to.
      await expect(get(server.port, { ca: ca.caPem })).resolves.toBe('ok');
    } finally {
      await server.close();
    }
  });

  it('is refused by a client that does not trust the CA, or asks for another name', async () => {
    const ca = await createTestCa();
    const other = await createTestCa();
    const server = await serve(await ca.issue({ dns: ['origin.test'] }));
    try {
      await expect(get(server.port, { servername: 'origin.test' })).rejects.toMatchObject({
        code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      });
      await expect(get(server.port, { ca: other.caPem, servername: 'origin.test' })).rejects.toMatchObject({
        code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      });
      await expect(get(server.port, { ca: ca.caPem, servername: 'elsewhere.test' })).rejects.toMatchObject({
        code: 'ERR_TLS_CERT_ALTNAME_INVALID',
      });
    } finally {
      await server.close();
    }
  });

  it('makes self-signed certificates that no CA vouches for', async () => {
    const ca = await createTestCa();
    const server = await serve(await selfSignedCert({ dns: ['origin.test'] }));
    try {
      await expect(get(server.port, { ca: ca.caPem, servername: 'origin.test' })).rejects.toMatchObject({
        code: 'DEPTH_ZERO_SELF_SIGNED_CERT',
      });
    } finally {
      await server.close();
    }
  });
});
