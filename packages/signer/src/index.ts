export * from './errors';
export * from './key-file';
export * from './old-keys';
export * from './local-signer';
export * from './load';
export * from './server';
