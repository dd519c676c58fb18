/**
 * Step 1 of `pnpm bench`: every package's own `bench` script through turbo. First one turbo run
 * builds everything in parallel (both cores); then one more runs every package's benchmark, one
 * at a time (`--concurrency=1`: two benchmarks sharing 2 cores would distort each other's
 * figures). One invocation, not one per package, saves turbo's start-up per package; each
 * benchmark process keeps its own time budget (bench-kit's PHALANX_BENCH_BUDGET_SEC) and the run
 * summary says how each one ended.
 *
 * Quick mode travels as PHALANX_BENCH_QUICK=1 and the output directory as PHALANX_BENCH_OUT;
 * `--env-mode=loose` makes turbo pass both through (its default strict mode would hide them from
 * the tasks). `--continue` keeps one failing package from stopping the rest, and `--summarize`
 * leaves a JSON run summary from which we read each task's exit code and duration.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { BUDGET_ENV, OUT_ENV, QUICK_ENV } from '@phalanx/bench-kit';

export interface TurboRun {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Record<string, string>;
}

function baseEnv(opts: { quick: boolean; partsDir: string; budgetSec?: number }): Record<string, string> {
  return {
    [QUICK_ENV]: opts.quick ? '1' : '0',
    [OUT_ENV]: opts.partsDir,
    TURBO_TELEMETRY_DISABLED: '1',
    ...(opts.budgetSec !== undefined ? { [BUDGET_ENV]: String(opts.budgetSec) } : {}),
  };
}

export function turboBuildCommand(opts: { quick: boolean; partsDir: string; filters?: readonly string[] }): TurboRun {
  // Benchmarks run from their TypeScript through tsx (no compile step of their own); what they
  // import from other packages is those packages' dist, built here in parallel on both cores.
  const args = ['exec', 'turbo', 'run', 'build', '--continue', '--output-logs=errors-only', '--summarize'];
  for (const f of opts.filters ?? []) args.push(`--filter=${f}`);
  return { command: 'pnpm', args, env: baseEnv(opts) };
}

/**
 * `turbo run bench` for the given packages. `only` (used after the build step) skips the `build`
 * the bench task depends on: everything is built already, the time budget then covers the
 * benchmark alone, and a budget overrun never interrupts a shared package's build half-way.
 */
export function turboCommand(opts: { quick: boolean; partsDir: string; filters?: readonly string[]; concurrency?: number; only?: boolean; budgetSec?: number }): TurboRun {
  const args = [
    'exec', 'turbo', 'run', 'bench', '--continue', '--env-mode=loose', '--output-logs=full', '--summarize',
    `--concurrency=${opts.concurrency ?? 1}`,
    ...(opts.only ? ['--only'] : []),
  ];
  for (const f of opts.filters ?? []) args.push(`--filter=${f}`);
  return { command: 'pnpm', args, env: baseEnv(opts) };
}

/**
 * Runs turbo with its output streamed to our stderr; resolves with the exit code, or 'timeout'
 * when it ran past `timeoutMs` (its whole process group is then stopped: SIGTERM, then SIGKILL).
 */
export function runTurbo(run: TurboRun, cwd: string, timeoutMs?: number, onOutput?: (text: string) => void): Promise<number | 'timeout'> {
  return new Promise((resolve, reject) => {
    // With `onOutput` turbo's output comes through us (to watch it); without, straight to stderr.
    const sink = onOutput ? 'pipe' : process.stderr;
    const child = spawn(run.command, [...run.args], {
      cwd,
      env: { ...process.env, ...run.env },
      stdio: ['ignore', sink, sink],
      detached: true,
    });
    if (onOutput) {
      for (const stream of [child.stdout, child.stderr]) {
        stream?.setEncoding('utf8');
        stream?.on('data', (text: string) => onOutput(text));
      }
    }
    let timedOut = false;
    const kill = (sig: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig);
      } catch {
        // already gone
      }
    };
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            kill('SIGTERM');
            setTimeout(() => kill('SIGKILL'), 3000).unref();
          }, timeoutMs);
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve(timedOut ? 'timeout' : (code ?? (signal ? 128 : 1)));
    });
  });
}

/**
 * Watches turbo's streamed output (every task line is prefixed `<package>:<task>: `) and calls
 * `onStart` the first time each package's task speaks — turbo announces a task before running it
 * ("cache bypass, force executing …"), so with `--concurrency=1` that is when its benchmark
 * starts. Chunks may split lines anywhere; colour codes are ignored.
 */
export class TaskStartWatcher {
  private partial = '';
  private readonly seen = new Set<string>();

  constructor(
    private readonly task: string,
    private readonly onStart: (pkg: string) => void,
  ) {}

  /** Feeds a chunk of output; returns it unchanged so it can be passed on. */
  feed(chunk: string): string {
    const lines = (this.partial + chunk).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) this.check(line);
    // A long unterminated line: judge its prefix now rather than wait for the newline.
    if (this.partial.length > 4096) {
      this.check(this.partial);
      this.partial = '';
    }
    return chunk;
  }

  /** Packages seen so far, in order. */
  get started(): string[] {
    return [...this.seen];
  }

  private check(line: string): void {
    // eslint-disable-next-line no-control-regex
    const plain = line.replace(/\x1b\[[0-9;]*m/g, '');
    const m = /^(\S+?):([\w:-]+): /.exec(plain) ?? /^(\S+?):([\w:-]+):$/.exec(plain.trimEnd());
    if (!m || m[2] !== this.task) return;
    const pkg = m[1]!;
    if (this.seen.has(pkg)) return;
    this.seen.add(pkg);
    this.onStart(pkg);
  }
}

/** Workspace packages with a `bench` script, by name (apps/bench itself has none). */
export function listBenchPackages(repoRoot: string): string[] {
  const out: string[] = [];
  for (const group of ['packages', 'apps']) {
    const dir = path.join(repoRoot, group);
    if (!existsSync(dir)) continue;
    for (const d of readdirSync(dir)) {
      const file = path.join(dir, d, 'package.json');
      if (!existsSync(file)) continue;
      try {
        const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; scripts?: Record<string, string> };
        if (pkg.name && pkg.scripts?.bench) out.push(pkg.name);
      } catch {
        // a broken package.json is turbo's to report
      }
    }
  }
  return out.sort();
}

export interface TaskOutcome {
  readonly taskId: string;
  readonly package: string;
  readonly task: string;
  readonly exitCode: number | undefined;
  readonly seconds: number | undefined;
  readonly cached: boolean;
}

/** Turbo's run summaries, newest last. */
export function listSummaries(repoRoot: string): string[] {
  const dir = path.join(repoRoot, '.turbo', 'runs');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => path.join(dir, f));
}

/**
 * Reads the tasks of a turbo run summary (`--summarize`). Tasks whose package has no such script
 * (turbo lists them with the command `<NONEXISTENT>`) are left out.
 */
export function readTurboSummary(text: string): TaskOutcome[] {
  const s = JSON.parse(text) as { tasks?: unknown };
  if (!Array.isArray(s.tasks)) throw new Error('turbo run summary has no "tasks" array');
  const out: TaskOutcome[] = [];
  for (const t of s.tasks as Array<Record<string, unknown>>) {
    if (typeof t.taskId !== 'string' || t.command === '<NONEXISTENT>') continue;
    const ex = (t.execution ?? {}) as { startTime?: number; endTime?: number; exitCode?: number };
    const cache = (t.cache ?? {}) as { status?: string };
    out.push({
      taskId: t.taskId,
      package: String(t.package ?? t.taskId.split('#')[0]),
      task: String(t.task ?? t.taskId.split('#')[1]),
      exitCode: typeof ex.exitCode === 'number' ? ex.exitCode : undefined,
      seconds: typeof ex.startTime === 'number' && typeof ex.endTime === 'number' ? (ex.endTime - ex.startTime) / 1000 : undefined,
      cached: cache.status === 'HIT',
    });
  }
  return out;
}

/** Runs turbo and returns its exit code with the per-task outcomes from the summary it wrote. */
export async function runTurboWithSummary(
  run: TurboRun,
  repoRoot: string,
  timeoutMs?: number,
  onOutput?: (text: string) => void,
): Promise<{ code: number | 'timeout'; tasks: TaskOutcome[] | undefined }> {
  const before = new Set(listSummaries(repoRoot));
  const code = await runTurbo(run, repoRoot, timeoutMs, onOutput);
  const fresh = listSummaries(repoRoot).filter((f) => !before.has(f));
  if (fresh.length !== 1) return { code, tasks: undefined };
  try {
    return { code, tasks: readTurboSummary(readFileSync(fresh[0]!, 'utf8')) };
  } catch {
    return { code, tasks: undefined };
  }
}
