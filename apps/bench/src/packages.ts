/**
 * Step 1 of `pnpm bench`: every package's own `bench` script through turbo (which builds what
 * they need first). Quick mode travels as PHALANX_BENCH_QUICK=1 and the output directory as
 * PHALANX_BENCH_OUT; `--env-mode=loose` makes turbo pass both through (its default strict mode
 * would hide them from the tasks). `--continue` keeps one failing benchmark from stopping the rest.
 */
import { spawn } from 'node:child_process';
import { OUT_ENV, QUICK_ENV } from '@phalanx/bench-kit';

export interface TurboRun {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Record<string, string>;
}

export function turboCommand(opts: { quick: boolean; partsDir: string; filters?: readonly string[]; concurrency?: number }): TurboRun {
  const args = ['exec', 'turbo', 'run', 'bench', '--continue', '--env-mode=loose', '--output-logs=full', `--concurrency=${opts.concurrency ?? 1}`];
  for (const f of opts.filters ?? []) args.push(`--filter=${f}`);
  return {
    command: 'pnpm',
    args,
    env: { [QUICK_ENV]: opts.quick ? '1' : '0', [OUT_ENV]: opts.partsDir, TURBO_TELEMETRY_DISABLED: '1' },
  };
}

/** Runs turbo with its output streamed to our stderr; resolves with the exit code. */
export function runTurbo(run: TurboRun, cwd: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(run.command, [...run.args], { cwd, env: { ...process.env, ...run.env }, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}
