import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'connectors/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One file at a time: two at once halved the wall time (4 min instead of ~8) but made the
    // 20-second broker outage test miss its drain deadline under contention.
    maxWorkers: 1,
    reporters: ['default'],
  },
});
