export * from './tls';
