/**
 * `npm run test:deploy` (and `npm run test:image`): checks of the deployment artefacts with the
 * real tools (helm, promtool, prometheus, docker-compose, docker). Kept apart from `npm test`
 * because they need those tools, which deploy/test/install-tools.sh installs.
 */
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
module.exports = {
  rootDir: root,
  testEnvironment: 'node',
  roots: ['<rootDir>/deploy/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/deploy/test/tsconfig.json' }],
  },
  moduleNameMapper: {
    '^@matrix-notary/([a-z-]+)$': '<rootDir>/packages/$1/src',
  },
  globalSetup: '<rootDir>/packages/testing/jest-global-setup.js',
  globalTeardown: '<rootDir>/packages/testing/jest-global-teardown.js',
  testTimeout: 120000,
  maxWorkers: 2,
};
