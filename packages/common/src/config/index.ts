export * from './variables';
export * from './read';
export * from './doc';
export * from './origin-fetch';
export * from './role-common';
export * from './dns-servers';
export * from './redis';
