import { defineConfig } from 'vitest/config';

// One run over every package so CI reads one summary. Each package may add its own
// vitest.config.ts (timeouts, setup); a folder without one runs with the defaults.
// PHALANX_TEST_JSON=<file> adds vitest's JSON reporter, which .ci/run sums up.
const json = process.env.PHALANX_TEST_JSON;

export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*'],
    reporters: json ? ['default', ['json', { outputFile: json }]] : ['default'],
  },
});
