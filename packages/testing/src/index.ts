export * from './tls';
export * from './dns-server';
export * from './https-origin';
export * from './origin';
export * from './redis';
export * from './redis-servers';
