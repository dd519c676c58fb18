import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { defineConfig } from 'vitest/config';

// One run over every package so CI reads one summary. Run from inside a package
// (`cd packages/x && npx vitest run`), it runs only that package. Each package may add its own
// vitest.config.ts (timeouts, setup). PHALANX_TEST_JSON=<file> adds vitest's JSON reporter,
// which .ci/run sums up.
const root = path.dirname(fileURLToPath(import.meta.url));
const cwd = process.cwd();
const insidePackage = cwd !== root && cwd.startsWith(root + path.sep);
const json = process.env.PHALANX_TEST_JSON;

export default defineConfig({
  test: {
    projects: insidePackage ? [cwd] : [`${root}/packages/*`, `${root}/apps/*`],
    reporters: json ? ['default', ['json', { outputFile: json }]] : ['default'],
  },
});
