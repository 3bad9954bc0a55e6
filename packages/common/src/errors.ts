/**
 * The one error type that knows its Matrix shape. Anything the HTTP layers throw that is not a
 * MatrixError becomes a 500 M_UNKNOWN whose message is not shown to the caller.
 */
export type MatrixErrcode =
  | 'M_NOT_JSON'
  | 'M_BAD_JSON'
  | 'M_INVALID_PARAM'
  | 'M_TOO_LARGE'
  | 'M_UNRECOGNIZED'
  | 'M_LIMIT_EXCEEDED'
  | 'M_MISSING_TOKEN'
  | 'M_UNKNOWN_TOKEN'
  | 'M_NOT_SIGNABLE'
  | 'M_UNAVAILABLE'
  | 'M_UNKNOWN';

export class MatrixError extends Error {
  constructor(
    readonly status: number,
    readonly errcode: MatrixErrcode,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'MatrixError';
  }

  jsonBody(): Record<string, unknown> {
    return { errcode: this.errcode, error: this.message, ...this.extra };
  }

  bodyBytes(): Buffer {
    return Buffer.from(JSON.stringify(this.jsonBody()));
  }
}

export const notJson = (msg = 'the request body is not valid JSON') => new MatrixError(400, 'M_NOT_JSON', msg);
export const badJson = (msg: string) => new MatrixError(400, 'M_BAD_JSON', msg);
export const invalidParam = (msg: string) => new MatrixError(400, 'M_INVALID_PARAM', msg);
export const tooLarge = (msg: string) => new MatrixError(413, 'M_TOO_LARGE', msg);
export const unrecognized = (status: 404 | 405, msg?: string) =>
  new MatrixError(status, 'M_UNRECOGNIZED', msg ?? (status === 404 ? 'Unrecognized request' : 'Method not allowed on this path'));
export const internalError = () => new MatrixError(500, 'M_UNKNOWN', 'Internal server error');
