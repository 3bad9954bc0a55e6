/**
 * `npm run test:cluster` and `npm run test:faults`: the notary as real processes (behind HAProxy)
 * on real Redis deployments (packages/cli/test-cluster): *.cluster.test.ts are the topologies,
 * *.faults.test.ts the strangers' floods; test:faults runs the standalone topology's faults and the
 * floods. Each scenario starts its own Redis, so there is no global setup; scenarios run one after
 * another (--runInBand) on a 2-core CI machine.
 */
const base = require('./jest.config.js');

module.exports = {
  ...base,
  testMatch: ['**/test-cluster/**/*.cluster.test.ts', '**/test-cluster/**/*.faults.test.ts'],
  globalSetup: undefined,
  globalTeardown: undefined,
  testTimeout: 180000,
  maxWorkers: 1,
};
