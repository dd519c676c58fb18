import { defineConfig } from 'vitest/config';

// Cluster scenarios take well under a second each on an idle machine; CI shares 2 cores among
// every package, so give them room rather than flake. The simulator suites set their own limits.
export default defineConfig({ test: { testTimeout: 60_000, hookTimeout: 30_000 } });
