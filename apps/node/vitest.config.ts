import { defineConfig } from 'vitest/config';

// The end-to-end tests start real replica processes over libp2p with LMDB storage.
export default defineConfig({ test: { testTimeout: 120_000, hookTimeout: 60_000 } });
