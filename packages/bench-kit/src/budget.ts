/**
 * A benchmark process's own time budget. `pnpm bench` runs every package's benchmark in one turbo
 * invocation (one start-up instead of one per package), so it can no longer stop a single package
 * from outside; instead each benchmark process, on importing bench-kit, arms a timer from
 * `PHALANX_BENCH_BUDGET_SEC` and stops itself when it runs over, with a message saying so.
 */

/** Seconds a benchmark process may run; unset, empty or not a positive number: no limit. */
export const BUDGET_ENV = 'PHALANX_BENCH_BUDGET_SEC';
/** Exit code of a benchmark stopped by its budget (as `timeout(1)` uses). */
export const BUDGET_EXIT_CODE = 124;

/** Arms the budget timer (unref'd: it never keeps a finished benchmark alive). */
export function armBudget(
  env: NodeJS.ProcessEnv = process.env,
  stop: (code: number) => void = (code) => process.exit(code),
): NodeJS.Timeout | undefined {
  const raw = env[BUDGET_ENV];
  if (raw === undefined || raw.trim() === '') return undefined;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds <= 0) return undefined;
  const timer = setTimeout(() => {
    process.stderr.write(`benchmark stopped: its budget of ${seconds} s (${BUDGET_ENV}) ran out; figures not written by then are lost\n`);
    stop(BUDGET_EXIT_CODE);
  }, seconds * 1000);
  timer.unref();
  return timer;
}

armBudget();
