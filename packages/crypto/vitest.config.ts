import { defineConfig } from 'vitest/config';

// ML-DSA vectors and the worker pool take a second or two each on an idle machine; CI shares
// 2 cores among every package, so give them room rather than flake.
export default defineConfig({ test: { testTimeout: 30_000, hookTimeout: 30_000 } });
