/**
 * Reads a request body into memory. Failures are the MatrixError to answer with: 413 as soon as
 * the body passes the size cap (the rest is still read and dropped, so the 413 reaches the
 * client on this connection), 400 when the body cannot be read.
 */
import type { IncomingMessage } from 'node:http';
import { MatrixError, tooLarge } from '@matrix-notary/common';

export function readBodyOrMatrixError(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
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
        // Stop buffering but keep reading, so the 413 can still be delivered on this connection.
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
