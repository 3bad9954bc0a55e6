/**
 * A throw-away certificate authority for tests: ECDSA P-256 keys from Node's webcrypto, certificates
 * built by @peculiar/x509. Nothing here is meant for production keys.
 */
// @peculiar/x509 resolves its parts through tsyringe, which needs the Reflect metadata API loaded
// before it.
import 'reflect-metadata';
import { webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

export interface IssuedCert {
  certPem: string;
  keyPem: string;
}

export interface CertNames {
  dns?: string[];
  ips?: string[];
  /** Also usable as a TLS client certificate (e.g. between Redis Cluster nodes, which verify each other). */
  clientAuth?: boolean;
}

export interface TestCa {
  caPem: string;
  issue(names: CertNames): Promise<IssuedCert>;
}

// The library falls back to globalThis.crypto; pinning Node's implementation keeps behaviour the
// same whatever a test environment puts on the global.
x509.cryptoProvider.set(webcrypto);

const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;
// Backdated so a test machine whose clock is a little behind still accepts fresh certificates.
const BACKDATE_MS = 60 * 60 * 1000;
const CERT_LIFETIME_MS = 7 * 24 * 60 * 60 * 1000;
const CA_LIFETIME_MS = 30 * 24 * 60 * 60 * 1000;

async function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
}

async function privateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(pkcs8, 'PRIVATE KEY');
}

function subjectAltNames(names: CertNames): x509.SubjectAlternativeNameExtension {
  const entries: x509.JsonGeneralName[] = [];
  for (const dns of names.dns ?? []) entries.push({ type: 'dns', value: dns });
  for (const ip of names.ips ?? []) {
    if (isIP(ip) === 0) throw new Error(`not an IP address for a certificate: ${ip}`);
    entries.push({ type: 'ip', value: ip });
  }
  if (entries.length === 0) throw new Error('a certificate needs at least one DNS name or IP address');
  return new x509.SubjectAlternativeNameExtension(entries, false);
}

function leafExtensions(names: CertNames): x509.Extension[] {
  return [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(
      names.clientAuth ? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth] : [x509.ExtendedKeyUsage.serverAuth],
      false,
    ),
    subjectAltNames(names),
  ];
}

function commonNameOf(names: CertNames): string {
  return (names.dns ?? [])[0] ?? (names.ips ?? [])[0] ?? 'test';
}

/** A CA whose certificate a test client trusts through `ca: caPem`. */
export async function createTestCa(commonName = 'matrix-notary test CA'): Promise<TestCa> {
  const caKeys = await generateKeys();
  const now = Date.now();
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${commonName}`,
    keys: caKeys,
    signingAlgorithm: SIGNING_ALGORITHM,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + CA_LIFETIME_MS),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const caPem = caCert.toString('pem');

  return {
    caPem,
    async issue(names: CertNames): Promise<IssuedCert> {
      const keys = await generateKeys();
      const issuedAt = Date.now();
      const cert = await x509.X509CertificateGenerator.create({
        subject: `CN=${commonNameOf(names)}`,
        issuer: caCert.subject,
        publicKey: keys.publicKey,
        signingKey: caKeys.privateKey,
        signingAlgorithm: SIGNING_ALGORITHM,
        notBefore: new Date(issuedAt - BACKDATE_MS),
        notAfter: new Date(issuedAt + CERT_LIFETIME_MS),
        extensions: [
          ...leafExtensions(names),
          await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
        ],
      });
      return { certPem: cert.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) };
    },
  };
}

/** A leaf certificate signed by its own key: no trust store accepts it. */
export async function selfSignedCert(names: CertNames): Promise<IssuedCert> {
  const keys = await generateKeys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${commonNameOf(names)}`,
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + CERT_LIFETIME_MS),
    extensions: leafExtensions(names),
  });
  return { certPem: cert.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) };
}

/** The names a PEM certificate is valid for, as Node reads them (for assertions in tests). */
export function certificateAltNames(certPem: string): string | undefined {
  return new NodeX509(certPem).subjectAltName;
}
