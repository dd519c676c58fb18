import { defineConfig } from 'vitest/config';

// Pure-JS pairings cost ~30–40 ms each, so a few tests take seconds; give them room.
export default defineConfig({
  test: { testTimeout: 120_000, hookTimeout: 60_000 },
});
