import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'connectors/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two files at a time: most integration tests wait on real services (restarts, outages), so a
    // second worker halves the wall time on a 2-core machine without starving the timing-sensitive ones.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
