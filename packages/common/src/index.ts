export * from './errors';
export * from './logger';
export * from './metrics';
export * from './config';
