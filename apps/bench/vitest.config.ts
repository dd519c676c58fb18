import { defineConfig } from 'vitest/config';

// Some tests drive real cores with real signatures; on a busy 2-core CI machine they need headroom.
export default defineConfig({ test: { testTimeout: 30_000 } });
