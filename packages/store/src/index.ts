export * from './redis';
export * from './keys';
export * from './scripts';
export * from './key-store';
export * from './origin-record';
export * from './fetch-events';
export * from './refresh-queue';
