export * from './config';
export * from './key-query';
export * from './own-keys-cache';
export * from './query-service';
export * from './hot-entries';
export * from './http-handler';
export * from './metrics';
export * from './start';
