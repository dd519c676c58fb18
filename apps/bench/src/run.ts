/**
 * The `pnpm bench` pipeline: package benchmarks (turbo) → the runner's own scenarios → report.
 * Every step is independent: a failure or a skip is recorded and the next step still runs, so the
 * report always comes out and says what is missing and why.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { BUDGET_EXIT_CODE, createRecorder, formatNumber, formatRecordLine, QUICK_ENV, type BenchRecord, type Ceiling } from '@phalanx/bench-kit';
import type { BenchArgs } from './args.js';
import { Progress } from './progress.js';
import { listBenchPackages, runTurboWithSummary, TaskStartWatcher, turboBuildCommand, turboCommand } from './packages.js';
import type { TaskOutcome } from './packages.js';
import { codecScenario } from './scenarios/codec.js';
import { kvCeiling, stateMachineScenario } from './scenarios/state-machine.js';
import { loadProtocol, PROTOCOLS } from './scenarios/protocols.js';
import { clusterRecords, FULL_SIZES, QUICK_SIZES, runProtocolCluster } from './scenarios/cluster-scenario.js';
import { multiProcessReadiness, peerReadiness } from './scenarios/external.js';
import { bftLoadRecords, httpLoadRecords, multiProcessRun, peerComparison, MP_FULL_SIZES, MP_QUICK_SIZES } from './scenarios/multi-process.js';
import { runInfo, writeReport, type ReportFiles } from './report/write.js';
import type { StepOutcome } from './report/markdown.js';

export const RUNNER_PACKAGE = '@phalanx/bench-app';
/** Budget per package benchmark: quick mode must keep the whole run near a minute. */
export const QUICK_PACKAGE_TIMEOUT_SEC = 60;
export const FULL_PACKAGE_TIMEOUT_SEC = 900;

export async function runBench(args: BenchArgs, repoRoot: string, progress = new Progress()): Promise<ReportFiles> {
  const resultsDir = path.resolve(repoRoot, args.out ?? 'bench-results');
  const partsDir = path.join(resultsDir, 'parts');
  // Quick mode reaches every figure through the same variable the packages read.
  if (args.quick) process.env[QUICK_ENV] = '1';
  else process.env[QUICK_ENV] = '0';

  if (!args.reportOnly) {
    // Parts from an earlier run would mix old figures into this report.
    mkdirSync(partsDir, { recursive: true });
    for (const f of readdirSync(partsDir)) if (f.endsWith('.json')) rmSync(path.join(partsDir, f));
    progress.line(`phalanx bench — ${args.quick ? 'quick' : 'full'} run, results in ${path.relative(process.cwd(), resultsDir) || '.'}`);

    if (args.packages) await packageBenchmarks(args, repoRoot, partsDir, progress);
    else progress.skip('package benchmarks', '--no-packages');

    if (args.runner) await runnerScenarios(args, repoRoot, partsDir, progress);
    else progress.skip('runner scenarios', '--no-runner');
  }

  // Re-aggregating keeps the step outcomes of the run that produced the parts.
  const earlier = args.reportOnly ? previousSteps(resultsDir) : [];
  let files: ReportFiles | undefined;
  await progress.step('report', () => {
    files = writeReport(resultsDir, { run: runInfo(args.quick, progress.seconds), steps: [...earlier, ...progress.outcomes] });
  });
  if (!files) throw new Error('the report could not be written');
  // Rewrite once more so the report's own step is listed too.
  files = writeReport(resultsDir, { run: runInfo(args.quick, progress.seconds), steps: [...earlier, ...progress.outcomes] });
  progress.line(`${files.records} figure(s) → ${path.relative(process.cwd(), files.markdown)}, ${path.relative(process.cwd(), files.json)}, ${files.charts.length} chart(s)`);
  for (const p of files.problems) progress.line(`  malformed: ${p}`);
  return files;
}

/** Steps recorded in an existing latest.json (minus its own report step), or none. */
export function previousSteps(resultsDir: string): StepOutcome[] {
  try {
    const prev = JSON.parse(readFileSync(path.join(resultsDir, 'latest.json'), 'utf8')) as { steps?: unknown };
    if (!Array.isArray(prev.steps)) return [];
    return (prev.steps as StepOutcome[]).filter(
      (s) => typeof s?.step === 'string' && ['ok', 'skipped', 'failed'].includes(s.status) && s.step !== 'report',
    );
  } catch {
    return [];
  }
}

async function packageBenchmarks(args: BenchArgs, repoRoot: string, partsDir: string, progress: Progress): Promise<void> {
  const build = turboBuildCommand({ quick: args.quick, partsDir, filters: args.filters });
  await progress.step('build packages (turbo run build)', async () => {
    const { code, tasks } = await runTurboWithSummary(build, repoRoot);
    const failed = (tasks ?? []).filter((t) => t.exitCode !== undefined && t.exitCode !== 0).map((t) => t.package);
    if (code !== 0) {
      throw new Error(`turbo exited with code ${code}${failed.length ? `; build failed in ${failed.join(', ')}` : ''} (their benchmarks cannot run; the rest still do)`);
    }
  });
  let packages = listBenchPackages(repoRoot);
  if (args.filters.length > 0) {
    const unknown = args.filters.filter((f) => !packages.includes(f));
    for (const f of unknown) progress.skip(`bench ${f}`, 'no workspace package of that name has a "bench" script');
    packages = packages.filter((p) => args.filters.includes(p));
  }
  if (packages.length === 0) {
    progress.skip('package benchmarks', 'no package has a "bench" script');
    return;
  }
  const timeoutSec = args.packageTimeoutSec ?? (args.quick ? QUICK_PACKAGE_TIMEOUT_SEC : FULL_PACKAGE_TIMEOUT_SEC);
  // One turbo run for all of them; each benchmark process stops itself at its budget, and the
  // whole run is stopped (as a backstop) only if it overruns every budget together.
  const run = turboCommand({ quick: args.quick, partsDir, filters: packages, only: true, budgetSec: timeoutSec });
  let tasks: TaskOutcome[] | undefined;
  await progress.step(`package benchmarks (${packages.length}, one at a time)`, async () => {
    // A line as each package's benchmark starts (turbo's own prefixed output follows it).
    const watcher = new TaskStartWatcher('bench', (pkg) => progress.line(`  ▸ bench ${pkg} (${watcher.started.length}/${packages.length}) at ${progress.seconds.toFixed(1)} s`));
    const r = await runTurboWithSummary(run, repoRoot, (timeoutSec * packages.length + 30) * 1000, (text) => progress.raw(watcher.feed(text)));
    tasks = r.tasks;
    if (r.code === 'timeout') throw new Error('turbo overran the sum of the package budgets and was stopped');
  });
  for (const pkg of packages) progress.record(packageOutcome(pkg, tasks, timeoutSec, args.quick));
}

/** How one package's benchmark ended, from turbo's run summary. */
export function packageOutcome(pkg: string, tasks: readonly TaskOutcome[] | undefined, budgetSec: number, quickMode: boolean): StepOutcome {
  const step = `bench ${pkg}`;
  const t = tasks?.find((x) => x.package === pkg && x.task === 'bench');
  if (!t) return { step, status: 'failed', detail: tasks ? 'turbo did not run it (see its output above)' : 'no turbo run summary to tell how it ended' };
  const seconds = t.seconds !== undefined ? { seconds: t.seconds } : {};
  if (t.exitCode === 0) return { step, status: 'ok', ...seconds };
  if (t.exitCode === BUDGET_EXIT_CODE) {
    return { step, status: 'failed', ...seconds, detail: `stopped after ${budgetSec} s, the per-package budget${quickMode ? ' in quick mode' : ''} (--package-timeout); figures it had not written yet are lost` };
  }
  return { step, status: 'failed', ...seconds, detail: `exited with code ${t.exitCode ?? 'unknown'}; its output is above` };
}

async function runnerScenarios(args: BenchArgs, repoRoot: string, partsDir: string, progress: Progress): Promise<void> {
  const recorder = createRecorder(RUNNER_PACKAGE, { progress: false });
  const rec = {
    add(r: BenchRecord): void {
      progress.line(`  ${formatRecordLine(recorder.add(r))}`);
    },
  };
  // Written after every scenario, so a crash later still leaves the figures measured so far.
  const save = (): void => {
    if (recorder.records.length > 0) recorder.write({ dir: partsDir });
  };
  await progress.step('codec: encode/decode vs JSON', () => {
    for (const r of codecScenario()) rec.add(r);
    save();
  });
  let ceiling: Ceiling | undefined;
  await progress.step('state machine: unreplicated ceiling', () => {
    const s = stateMachineScenario();
    for (const r of s.records) rec.add(r);
    ceiling = kvCeiling(s.measurement);
    save();
  });

  if (args.cluster) {
    const sizes = args.sizes ?? (args.quick ? [...QUICK_SIZES] : [...FULL_SIZES]);
    const wanted = args.protocols ? PROTOCOLS.filter((p) => args.protocols!.includes(p.name)) : PROTOCOLS;
    for (const name of args.protocols ?? []) {
      if (!PROTOCOLS.some((p) => p.name === name)) progress.skip(`cluster ${name}`, `unknown protocol (known: ${PROTOCOLS.map((p) => p.name).join(', ')})`);
    }
    for (const entry of wanted) {
      const loaded = await loadProtocol(repoRoot, entry);
      if (!loaded.ok) {
        progress.skip(`in-process cluster: ${entry.name}`, loaded.reason);
        continue;
      }
      for (const n of sizes) {
        await progress.step(`in-process cluster: ${entry.name} n=${n}`, () => {
          // Same client count in both modes: batching (and so every figure) depends on it.
          const concurrency = 256;
          const r = runProtocolCluster({ entry, definition: loaded.definition, n, concurrency, scheme: args.scheme });
          for (const x of clusterRecords(entry.name, n, r, ceiling, concurrency, args.scheme)) rec.add(x);
          save();
          if (r.committed === 0) throw new Error(`no command committed (${r.stopped ?? 'unknown'}; views changed ${r.viewChanges}×${r.misbehaviour.length ? `; misbehaviour: ${r.misbehaviour[0]}` : ''})`);
          if (r.stopped) progress.line(`  note: stopped early (${r.stopped}) after ${r.committed} commands, ${formatNumber(r.wallMs)} ms`);
        });
      }
    }
  } else progress.skip('in-process clusters', '--no-cluster');

  // Quick mode starts one testnet (the first protocol, n = 4) and reuses it for the etcd ratio.
  const allMp = (args.protocols ?? PROTOCOLS.map((p) => p.name)).filter((p) => PROTOCOLS.some((x) => x.name === p && x.testnet));
  const mpProtocols = args.quick ? allMp.slice(0, 1) : allMp;
  const mpResults = new Map<string, Awaited<ReturnType<typeof multiProcessRun>>["http"]>();
  if (args.multiProcess) {
    const p = multiProcessReadiness(repoRoot);
    if (!p.ok) progress.skip('multi-process cluster (libp2p, durable)', p.reason);
    else {
      for (const protocol of mpProtocols) {
        for (const n of args.quick ? MP_QUICK_SIZES : MP_FULL_SIZES) {
          await progress.step(`multi-process cluster: ${protocol} n=${n} (libp2p, durable; BFT client and HTTP load)`, async () => {
            const r = await multiProcessRun(repoRoot, protocol, n, args.quick);
            mpResults.set(`${protocol}/${n}`, r.http);
            const base = { protocol, n, transport: 'libp2p', storage: 'durable' };
            for (const x of bftLoadRecords('cluster/multi-process', base, r, ceiling)) rec.add(x);
            for (const x of httpLoadRecords('cluster/multi-process', base, r.http, ceiling)) rec.add(x);
            save();
          });
        }
      }
    }
  } else progress.skip('multi-process cluster (libp2p, durable)', '--no-multi-process');

  if (args.peer) {
    const p = peerReadiness(repoRoot);
    if (!p.ok) progress.skip('peer comparison: etcd vs phalanx KV', p.reason);
    else {
      const protocol = mpProtocols[0] ?? 'pbft';
      await progress.step('peer comparison: etcd vs phalanx KV (same HTTP load, durable)', async () => {
        for (const x of await peerComparison(repoRoot, p.detail, protocol, args.quick, mpResults.get(`${protocol}/4`))) rec.add(x);
        save();
      });
    }
  } else progress.skip('peer comparison: etcd vs phalanx KV', '--no-peer');
  save();
}
