// Jest runs the TypeScript sources as native ESM (@actions/core 3 is ESM-only).
// Type checking is `npm run build`; ts-jest only transpiles (isolatedModules).
/** @type {import('jest').Config} */
export default {
  // onnxruntime-node's tensors must pass instanceof checks across jest's per-file V8 context.
  testEnvironment: '<rootDir>/__tests__/fixtures/ort-environment.mjs',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }] },
  testMatch: ['<rootDir>/__tests__/**/*.test.ts'],
  testTimeout: 120000,
  maxWorkers: 2,
  verbose: true,
};
