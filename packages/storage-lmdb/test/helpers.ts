import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const fixture = (name: string): string => path.join(pkgDir, 'test', 'fixtures', name);

/** Child-process tests run the compiled package; build it if a bare checkout has no dist yet. */
export function ensureBuilt(): void {
  if (fs.existsSync(path.join(pkgDir, 'dist', 'index.js'))) return;
  execFileSync(process.execPath, [path.join(pkgDir, '..', '..', 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: pkgDir, stdio: 'inherit' });
}

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'phalanx-lmdb-'));
}
