export * from './config';
export * from './metrics';
export * from './refresh-origin';
export * from './start';
export * from './key-metrics';
export * from './binding-events';
export * from './upstream-answer';
export * from './upstream-notaries';
