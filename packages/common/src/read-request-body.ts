/**
 * Reads a request body into memory for the notary's servers (the api's POST query, the signer's
 * countersign), refusing it with 413 M_TOO_LARGE as soon as it is known to pass the cap: from
 * Content-Length before a byte is read, or while counting.
 */
import type { IncomingMessage } from 'node:http';
import { MatrixError, tooLarge } from './errors';

export function readRequestBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) {
    return Promise.reject(tooLarge(`the request body is over ${maxBytes} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > maxBytes) {
        failed = true;
        // Stop buffering but keep reading, so the 413 can still be delivered on this connection
        // (closing a socket with unread input makes the kernel reset it, 413 and all).
        chunks.length = 0;
        reject(tooLarge(`the request body is over ${maxBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks, size));
    });
    req.on('error', (err) => {
      if (!failed) reject(new MatrixError(400, 'M_UNKNOWN', `the request body could not be read: ${err.message}`));
    });
  });
}
