import { defineConfig } from 'vitest/config';

// Unit tests and end-to-end tests (test/e2e) run in one `npm test`. e2e tests start the broker as a real process
// from dist/ (built by the `pretest` script), so they are given generous timeouts; files run in forks, two at a
// time at most, because the CI machine has 2 cores.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
