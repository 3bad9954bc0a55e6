/** Tests run against the TypeScript sources; `npm test` type-checks everything with `tsc -b` first. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/packages'],
  testMatch: ['**/test/**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }],
  },
  moduleNameMapper: {
    '^@matrix-notary/([a-z-]+)$': '<rootDir>/packages/$1/src',
    // The test helpers' Redis module alone, for tests that need nothing else of the testing package
    // (its index loads the TLS and DNS helpers: half a second per test file).
    '^@matrix-notary/testing/redis$': '<rootDir>/packages/testing/src/redis',
  },
  globalSetup: '<rootDir>/packages/testing/jest-global-setup.js',
  globalTeardown: '<rootDir>/packages/testing/jest-global-teardown.js',
  reporters: ['default', '<rootDir>/packages/testing/jest-property-cases-reporter.js'],
  testTimeout: 30000,
  maxWorkers: 2,
};
