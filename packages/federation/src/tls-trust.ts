/** The certificate authorities origins are checked against. */
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import tls from 'node:tls';

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * A secure context trusting Node's CAs plus `extraCaPem` (NOTARY_FEDERATION_CA_FILE), or undefined
 * when there is nothing extra: Node's default context already has its CAs and NODE_EXTRA_CA_CERTS.
 */
export function createTrustContext(extraCaPem: string | undefined): tls.SecureContext | undefined {
  if (extraCaPem === undefined || extraCaPem.trim() === '') return undefined;
  const extra = pemCertificates(extraCaPem, 'NOTARY_FEDERATION_CA_FILE');
  // Giving `ca` replaces Node's default list, so it is rebuilt here: the bundled roots, then the
  // process-wide NODE_EXTRA_CA_CERTS (which Node only adds to its own default context).
  const ca = [...tls.rootCertificates, ...nodeExtraCaCertificates(), ...extra];
  return tls.createSecureContext({ ca });
}

function pemCertificates(pem: string, source: string): string[] {
  const blocks = pem.match(PEM_BLOCK) ?? [];
  if (blocks.length === 0) throw new Error(`${source}: no PEM certificate found (expected -----BEGIN CERTIFICATE----- blocks)`);
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch (err) {
      throw new Error(`${source}: a certificate could not be read: ${(err as Error).message}`);
    }
  }
  return blocks;
}

function nodeExtraCaCertificates(): string[] {
  const file = process.env['NODE_EXTRA_CA_CERTS'];
  if (!file) return [];
  try {
    return pemCertificates(fs.readFileSync(file, 'utf8'), 'NODE_EXTRA_CA_CERTS');
  } catch {
    // Node itself only warns about an unreadable NODE_EXTRA_CA_CERTS; do the same by ignoring it.
    return [];
  }
}
