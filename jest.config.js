// Jest runs the TypeScript sources as native ESM (@actions/core 3 is ESM-only).
// Type checking is `npm run build`; ts-jest only transpiles (isolatedModules).
// Two projects: `unit` (`npm run test:unit`) starts no service, no Docker and no server bundle and runs in
// seconds; `integration` (`npm run test:integration`) is every other suite (Azurite, docker-registry, a
// private dockerd, the server and action bundles). `npm test` runs both.
// A test file that starts nothing but in-process loopback fakes belongs in UNIT_TESTS.

/** The unit suites, relative to __tests__/. */
const UNIT_TESTS = [
  'retry.test.ts',
  'errors.test.ts',
  'exec.test.ts',
  'server-env.test.ts',
  'pipeline.test.ts',
  'action/inputs.test.ts',
  'action/manifests.test.ts',
  'action/report.test.ts',
  'action/workflows.test.ts',
  'image/auth.test.ts',
  'image/credentials.test.ts',
  'image/push.test.ts',
  'image/reference.test.ts',
  'server/cores.test.ts',
  'server/routes.test.ts',
  'sources/concurrency.test.ts',
  'sources/reference.test.ts',
  'sources/settings.test.ts',
  'sources/tokenizer.test.ts',
].map((f) => `<rootDir>/__tests__/${f}`);

/** @type {import('jest').Config} */
const common = {
  // onnxruntime-node's tensors must pass instanceof checks across jest's per-file V8 context.
  testEnvironment: '<rootDir>/__tests__/fixtures/ort-environment.mjs',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }] },
};

/** @type {import('jest').Config} */
export default {
  projects: [
    { ...common, displayName: 'unit', testMatch: UNIT_TESTS },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/__tests__/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', ...UNIT_TESTS],
    },
  ],
  testTimeout: 120000,
  maxWorkers: 2,
  // Every test file in a fresh worker process. onnxruntime-node's binding registers its N-API cleanup hook
  // once per process: jest's per-file module registry loads it again in the same process, and node
  // aborts (SIGABRT, "CleanupQueue::Add ... insertion_info.second") when a second file that loads it
  // (in-process sessions, the model-layout stage) lands on the same worker. A tiny idle-memory limit
  // makes jest recycle each worker after every file.
  workerIdleMemoryLimit: '1MB',
  verbose: true,
};
