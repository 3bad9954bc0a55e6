/** Unpadded base64, the encoding the Matrix spec uses for keys and signatures. */

const STANDARD = /^[A-Za-z0-9+/]*={0,2}$/;
const URL_SAFE = /^[A-Za-z0-9_-]*={0,2}$/;

export class Base64Error extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Base64Error';
  }
}

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64').replace(/=+$/, '');
}

/**
 * Decodes standard or URL-safe base64, padded or not (the spec says senders use unpadded standard
 * base64 and receivers should accept both alphabets). Refuses anything Buffer.from would silently skip.
 */
export function decodeBase64(text: string): Uint8Array {
  if (typeof text !== 'string') throw new Base64Error('base64 value is not a string');
  if (!STANDARD.test(text) && !URL_SAFE.test(text)) throw new Base64Error('not valid base64');
  const body = text.replace(/=+$/, '');
  if (body.length % 4 === 1) throw new Base64Error('base64 length is impossible');
  if (text.length !== body.length && text.length % 4 !== 0) throw new Base64Error('base64 padding is wrong');
  return new Uint8Array(Buffer.from(body, URL_SAFE.test(body) && !STANDARD.test(body) ? 'base64url' : 'base64'));
}
