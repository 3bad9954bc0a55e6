/**
 * Everything off the hot path: health probes and the Matrix 404 for unknown paths. The key
 * routes never reach Express (its router costs more than a whole cache hit; see http-handler.ts).
 */
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { internalError, MatrixError, sendMatrixError, unrecognized, type Logger } from '@matrix-notary/common';

export interface ExpressAppDeps {
  logger: Logger;
  /** Resolves when Redis answers; readiness fails otherwise. */
  checkReady(): Promise<void>;
}

export function createExpressApp(deps: ExpressAppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get('/_notary/health/live', (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/_notary/health/ready', (_req, res, next) => {
    deps.checkReady().then(
      () => res.json({ ok: true }),
      (err: Error) => next(new MatrixError(503, 'M_UNAVAILABLE', `not ready: ${err.message}`)),
    );
  });

  // Known paths, other methods: 405, as for the key endpoints.
  app.all(['/_notary/health/live', '/_notary/health/ready'], (_req, _res, next) => next(unrecognized(405)));
  app.use((_req, _res, next) => next(unrecognized(404)));

  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const matrixError = err instanceof MatrixError ? err : internalError();
    if (!(err instanceof MatrixError)) deps.logger.error({ err: (err as Error)?.message }, 'unexpected error in the api');
    sendMatrixError(res, matrixError);
  });
  return app;
}
