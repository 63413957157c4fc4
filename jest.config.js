/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  globalSetup: '<rootDir>/test/helpers/global-setup.ts',
  globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
  testTimeout: 60_000,
  // One file at a time: on 2 cores, two heavy files side by side (the recover, throttle and fault
  // suites each run servers, workers and receivers) measured each other instead of the service.
  maxWorkers: 1,
  // ...in a worker process, not jest's own (where one worker would run them), replaced once a file
  // leaves it above this much memory: each heavy file starts clean of the last one's Temporal
  // runtime, connections and heap.
  workerIdleMemoryLimit: '300MB',
};
