/**
 * Signing key identifiers: `<algorithm>:<version>`. The spec restricts the version to
 * [a-zA-Z0-9_]; the algorithm names we know are lowercase words. The length bound is ours.
 */
export const MAX_KEY_ID_LENGTH = 255;

const KEY_ID = /^[a-z0-9_]+:[a-zA-Z0-9_]+$/;

export function isValidKeyId(keyId: unknown): keyId is string {
  return typeof keyId === 'string' && keyId.length <= MAX_KEY_ID_LENGTH && KEY_ID.test(keyId);
}

export function isEd25519KeyId(keyId: string): boolean {
  return keyId.startsWith('ed25519:') && isValidKeyId(keyId);
}
