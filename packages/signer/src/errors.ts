/**
 * The key files' error type. The errors of signing itself (refused, unavailable) belong to the
 * signer's interface and live in @matrix-notary/signer-client, where the api and worker find them.
 */

/**
 * A signing key file or old-keys file that cannot be used. Messages name the file and line and
 * never quote the file's content: a line of a key file is key material.
 */
export class KeyFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyFileError';
  }
}
