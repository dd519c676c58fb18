import { defineConfig } from 'vitest/config';

// Simulation tests run many seeded runs each; give them room on a shared 2-core machine.
export default defineConfig({
  test: { testTimeout: 60_000 },
});
