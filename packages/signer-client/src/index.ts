export * from './errors';
export * from './notary-signer';
export * from './wire';
export * from './remote-signer';
export * from './metered-signer';
