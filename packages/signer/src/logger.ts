/**
 * The logging surface the signer uses: pino's method shape, so the role passes its pino logger
 * and tests pass a capturing one. Nothing here ever logs key material or request bodies.
 */
export interface SignerLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
