export * from './errors';
export * from './logger';
export * from './metrics';
export * from './hot-path-metrics';
export * from './config';
export * from './cidr-set';
export * from './settle-within';
export * from './banned-keys-file';
