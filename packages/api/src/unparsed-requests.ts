/**
 * Requests Node's HTTP parser refuses never reach the handler; Node would answer them with a bare
 * status line or close the socket. A stranger's malformed request gets a Matrix error body like
 * any other (where the socket still allows writing), then the connection is closed: after a
 * parse error nothing more on it can be trusted.
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';

interface Refusal {
  status: number;
  reason: string;
  errcode: string;
  error: string;
}

function refusalFor(code: string | undefined): Refusal {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, reason: 'Request Header Fields Too Large', errcode: 'M_TOO_LARGE', error: 'the request headers are too large' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, reason: 'Request Timeout', errcode: 'M_UNKNOWN', error: 'the request did not arrive in time' };
    default:
      return { status: 400, reason: 'Bad Request', errcode: 'M_UNRECOGNIZED', error: 'the request is not valid HTTP/1.1' };
  }
}

function refuse(socket: Duplex, r: Refusal): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify({ errcode: r.errcode, error: r.error });
  socket.end(
    `HTTP/1.1 ${r.status} ${r.reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

export function answerUnparsedRequests(server: http.Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // A peer that went away (reset, closed mid-request) gets nothing: there is no one to tell.
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return void socket.destroy();
    refuse(socket, refusalFor(err.code));
  });
  // CONNECT and protocol upgrades are nothing this server does: say so instead of dropping them.
  server.on('connect', (_req: http.IncomingMessage, socket: Duplex) =>
    refuse(socket, { status: 405, reason: 'Method Not Allowed', errcode: 'M_UNRECOGNIZED', error: 'CONNECT is not supported' }),
  );
  server.on('upgrade', (_req: http.IncomingMessage, socket: Duplex) =>
    refuse(socket, {
      status: 400,
      reason: 'Bad Request',
      errcode: 'M_UNRECOGNIZED',
      error: 'protocol upgrades are not supported: send the request without an Upgrade header',
    }),
  );
}
