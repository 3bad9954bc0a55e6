export * from './redis';
export * from './keys';
export * from './scripts';
export * from './key-store';
export * from './origin-record';
export * from './origin-report';
export * from './fetch-events';
export * from './refresh-queue';
