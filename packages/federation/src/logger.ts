/** The logging the client needs: pino's `(object, message)` form, so a pino logger fits as is. */
export interface FederationLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const noop = (): void => undefined;
export const silentLogger: FederationLogger = { debug: noop, info: noop, warn: noop, error: noop };
