export * from './roles';
export * from './embedded-redis';
export { main } from './main';
