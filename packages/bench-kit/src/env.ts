import { existsSync } from 'node:fs';
import path from 'node:path';

/** Environment variable that switches every benchmark to small sizes (`pnpm bench --quick`). */
export const QUICK_ENV = 'PHALANX_BENCH_QUICK';
/** Directory the result parts go to; defaults to `<repo root>/bench-results/parts`. */
export const OUT_ENV = 'PHALANX_BENCH_OUT';

/**
 * True when quick mode is on: `PHALANX_BENCH_QUICK` is `1`, `true` or `yes` (any case).
 * Anything else (unset, empty, `0`, `false`) means a full run.
 */
export function quick(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env[QUICK_ENV];
  if (v === undefined) return false;
  return ['1', 'true', 'yes'].includes(v.trim().toLowerCase());
}

/** Picks the quick or the full size: `const n = sized(1_000, 100_000)`. */
export function sized<T>(quickValue: T, fullValue: T, env: NodeJS.ProcessEnv = process.env): T {
  return quick(env) ? quickValue : fullValue;
}

/** Walks up from `start` to the directory holding `pnpm-workspace.yaml`. Throws when there is none. */
export function findRepoRoot(start: string = process.cwd()): string {
  let dir = path.resolve(start);
  for (;;) {
    if (existsSync(path.join(dir, 'pnpm-workspace.yaml'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new Error(`no pnpm-workspace.yaml above ${start}: set ${OUT_ENV} to say where benchmark results go`);
    }
    dir = parent;
  }
}

/** Where result parts are written: `$PHALANX_BENCH_OUT`, else `<repo root>/bench-results/parts`. */
export function outDir(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string {
  const v = env[OUT_ENV];
  if (v !== undefined && v.trim() !== '') return path.resolve(cwd, v);
  return path.join(findRepoRoot(cwd), 'bench-results', 'parts');
}
