/**
 * Requests Node's HTTP parser refuses never reach the handler; Node would answer them with a bare
 * status line or close the socket. A stranger's malformed request gets a Matrix error body like
 * any other (where the socket still allows writing), then the connection is closed: after a
 * parse error nothing more on it can be trusted.
 */
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { MatrixError } from '@matrix-notary/common';

function refusalFor(code: string | undefined): MatrixError {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return new MatrixError(431, 'M_TOO_LARGE', 'the request headers are too large');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new MatrixError(408, 'M_UNKNOWN', 'the request did not arrive in time');
    default:
      return new MatrixError(400, 'M_UNRECOGNIZED', 'the request is not valid HTTP/1.1');
  }
}

/** sendMatrixError's answer written on the bare socket: there is no ServerResponse for these. */
function refuse(socket: Duplex, error: MatrixError): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = error.bodyBytes();
  const head = `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`;
  socket.end(Buffer.concat([Buffer.from(head, 'latin1'), body]));
}

export function answerUnparsedRequests(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // A peer that went away (reset, closed mid-request) gets nothing: there is no one to tell.
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return void socket.destroy();
    refuse(socket, refusalFor(err.code));
  });
  // CONNECT and protocol upgrades are nothing this server does: say so instead of dropping them.
  server.on('connect', (_req: IncomingMessage, socket: Duplex) =>
    refuse(socket, new MatrixError(405, 'M_UNRECOGNIZED', 'CONNECT is not supported')),
  );
  server.on('upgrade', (_req: IncomingMessage, socket: Duplex) =>
    refuse(socket, new MatrixError(400, 'M_UNRECOGNIZED', 'protocol upgrades are not supported: send the request without an Upgrade header')),
  );
}
