export * from './config';
export * from './metrics';
export * from './refresh-origin';
export * from './start';
