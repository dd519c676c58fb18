import { describe, it, expect } from 'vitest';
import { mkdirSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { parseArgs, UsageError } from '../src/args.js';
import { listBenchPackages, readTurboSummary, runTurbo, TaskStartWatcher, turboBuildCommand, turboCommand } from '../src/packages.js';
import { packageOutcome } from '../src/run.js';
import { BUDGET_EXIT_CODE } from '@phalanx/bench-kit';
import { Progress } from '../src/progress.js';
import { probeEtcd, peerReadiness } from '../src/scenarios/external.js';
import { tempDir } from './temp-dir.js';


describe('command line', () => {
  it('defaults to a full run of everything', () => {
    expect(parseArgs([], {})).toMatchObject({ quick: false, packages: true, runner: true, cluster: true, peer: true, reportOnly: false });
  });
  it('turns quick mode on from --quick or PHALANX_BENCH_QUICK=1', () => {
    expect(parseArgs(['--quick'], {}).quick).toBe(true);
    expect(parseArgs([], { PHALANX_BENCH_QUICK: '1' }).quick).toBe(true);
    expect(parseArgs([], { PHALANX_BENCH_QUICK: '0' }).quick).toBe(false);
    expect(parseArgs(['--', '--quick'], {}).quick).toBe(true); // pnpm may forward a separator
  });
  it('parses lists and switches, and refuses bad input with a usage error', () => {
    const a = parseArgs(['--sizes=4,7', '--protocols', 'pbft', '--filter', '@phalanx/crypto', '--no-peer', '--out', 'x', '--package-timeout', '12'], {});
    expect(a).toMatchObject({ sizes: [4, 7], protocols: ['pbft'], filters: ['@phalanx/crypto'], peer: false, out: 'x', packageTimeoutSec: 12 });
    expect(() => parseArgs(['--package-timeout', '0'], {})).toThrow(UsageError);
    expect(parseArgs(['--scheme', 'ml-dsa-44'], {}).scheme).toBe('ml-dsa-44');
    expect(parseArgs([], {}).scheme).toBe('ed25519');
    expect(() => parseArgs(['--scheme', 'rsa'], {})).toThrow(/--scheme must be one of/);
    expect(() => parseArgs(['--sizes', '4,zero'], {})).toThrow(UsageError);
    expect(() => parseArgs(['--sizes'], {})).toThrow(/needs a value/);
    expect(() => parseArgs(['--fast'], {})).toThrow(/unknown option --fast/);
  });
});

describe('turbo invocation', () => {
  it('forwards quick mode and the output directory through the environment, in loose env mode', () => {
    const q = turboCommand({ quick: true, partsDir: '/r/parts', filters: ['@phalanx/codec'] });
    expect(q.env).toMatchObject({ PHALANX_BENCH_QUICK: '1', PHALANX_BENCH_OUT: '/r/parts' });
    expect(q.args).toEqual(expect.arrayContaining(['turbo', 'run', 'bench', '--env-mode=loose', '--continue', '--filter=@phalanx/codec']));
    expect(turboCommand({ quick: false, partsDir: '/r' }).env.PHALANX_BENCH_QUICK).toBe('0');
    expect(q.args).toContain('--concurrency=1'); // benchmarks never share the cores
    expect(q.args).not.toContain('--only');
    expect(turboCommand({ quick: true, partsDir: '/r', filters: ['@phalanx/x'], only: true }).args).toContain('--only');
    expect(turboBuildCommand({ quick: true, partsDir: '/r' }).args).not.toContain('--concurrency=1');
    // every package in one invocation, each benchmark with its own budget, and a summary to read outcomes from
    const all = turboCommand({ quick: true, partsDir: '/r', filters: ['@phalanx/a', '@phalanx/b'], only: true, budgetSec: 60 });
    expect(all.args).toEqual(expect.arrayContaining(['--filter=@phalanx/a', '--filter=@phalanx/b', '--summarize']));
    expect(all.env.PHALANX_BENCH_BUDGET_SEC).toBe('60');
  });

  it('tells how each package benchmark ended from the turbo summary', () => {
    const task = (pkg: string, exitCode: number | undefined) => ({ taskId: `${pkg}#bench`, package: pkg, task: 'bench', exitCode, seconds: 2.5, cached: false });
    const tasks = [task('@phalanx/a', 0), task('@phalanx/b', BUDGET_EXIT_CODE), task('@phalanx/c', 1)];
    expect(packageOutcome('@phalanx/a', tasks, 60, true)).toEqual({ step: 'bench @phalanx/a', status: 'ok', seconds: 2.5 });
    expect(packageOutcome('@phalanx/b', tasks, 60, true)).toMatchObject({ status: 'failed', detail: expect.stringMatching(/stopped after 60 s, the per-package budget in quick mode/) });
    expect(packageOutcome('@phalanx/c', tasks, 60, false)).toMatchObject({ status: 'failed', detail: expect.stringMatching(/exited with code 1/) });
    expect(packageOutcome('@phalanx/d', tasks, 60, false)).toMatchObject({ status: 'failed', detail: expect.stringMatching(/did not run it/) });
    expect(packageOutcome('@phalanx/a', undefined, 60, false)).toMatchObject({ status: 'failed', detail: expect.stringMatching(/no turbo run summary/) });
  });

  it('finds the workspace packages that have a bench script', async () => {
    const root = tempDir('bench-ws-');
    const pkg = (dir: string, json: string): void => {
      mkdirSync(path.join(root, dir), { recursive: true });
      writeFileSync(path.join(root, dir, 'package.json'), json);
    };
    pkg('packages/b', JSON.stringify({ name: '@x/b', scripts: { bench: 'node b.js' } }));
    pkg('packages/a', JSON.stringify({ name: '@x/a', scripts: { bench: 'node a.js', build: 'tsc' } }));
    pkg('packages/c', JSON.stringify({ name: '@x/c', scripts: { build: 'tsc' } }));
    pkg('packages/broken', '{');
    pkg('apps/d', JSON.stringify({ name: '@x/d', scripts: { bench: 'node d.js' } }));
    expect(listBenchPackages(root)).toEqual(['@x/a', '@x/b', '@x/d']);
  });

  it('stops a benchmark that overruns its budget and says so', async () => {
    const hang = { command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'], env: {} };
    expect(await runTurbo(hang, process.cwd(), 200)).toBe('timeout');
    const quickExit = { command: process.execPath, args: ['-e', 'process.exit(3)'], env: {} };
    expect(await runTurbo(quickExit, process.cwd(), 10_000)).toBe(3);
  });

  it("passes a child's output to onOutput when given one", async () => {
    let seen = '';
    const talk = { command: process.execPath, args: ['-e', 'console.log("out"); console.error("err")'], env: {} };
    expect(await runTurbo(talk, process.cwd(), 10_000, (t) => (seen += t))).toBe(0);
    expect(seen).toContain('out\n');
    expect(seen).toContain('err\n');
  });

  it("notices each package's task starting in turbo's prefixed output, across split chunks and colours", () => {
    const starts: string[] = [];
    const w = new TaskStartWatcher('bench', (pkg) => starts.push(pkg));
    const text = [
      '   • turbo 2.11.11',
      '   • Running bench in 2 packages',
      '',
      '@phalanx/crypto:bench: cache bypass, force executing 4fbb',
      '@phalanx/crypto:bench: ',
      '@phalanx/crypto:bench:   crypto/hash · sha256: 610 MB/s',
      '\x1b[36m@phalanx/hotstuff:bench: \x1b[0mcache bypass, force executing 1234',
      '@phalanx/hotstuff:bench:',
      '@phalanx/codec:build: tsc',
      'not-a-task: @phalanx/pbft:bench: in the middle',
      ' Tasks:    2 successful, 2 total',
      '',
    ].join('\n');
    // Fed in awkward pieces: the split falls inside a prefix.
    let passed = '';
    for (let i = 0; i < text.length; i += 7) passed += w.feed(text.slice(i, i + 7));
    expect(passed).toBe(text);
    expect(starts).toEqual(['@phalanx/crypto', '@phalanx/hotstuff']);
    expect(w.started).toEqual(starts);
  });

  it('reads per-task outcomes from a turbo run summary, leaving out packages without the script', () => {
    const summary = JSON.stringify({
      tasks: [
        { taskId: '@phalanx/crypto#bench', task: 'bench', package: '@phalanx/crypto', command: 'node x', execution: { startTime: 1000, endTime: 3500, exitCode: 0 }, cache: { status: 'MISS' } },
        { taskId: '@phalanx/pbft#bench', task: 'bench', package: '@phalanx/pbft', command: 'node y', execution: { startTime: 0, endTime: 10, exitCode: 1 } },
        { taskId: '@phalanx/quorum#bench', task: 'bench', package: '@phalanx/quorum', command: '<NONEXISTENT>' },
        { taskId: '@phalanx/codec#build', task: 'build', package: '@phalanx/codec', command: 'tsc', cache: { status: 'HIT' } },
      ],
    });
    expect(readTurboSummary(summary)).toEqual([
      { taskId: '@phalanx/crypto#bench', package: '@phalanx/crypto', task: 'bench', exitCode: 0, seconds: 2.5, cached: false },
      { taskId: '@phalanx/pbft#bench', package: '@phalanx/pbft', task: 'bench', exitCode: 1, seconds: 0.01, cached: false },
      { taskId: '@phalanx/codec#build', package: '@phalanx/codec', task: 'build', exitCode: undefined, seconds: undefined, cached: true },
    ]);
    expect(() => readTurboSummary('{}')).toThrow(/no "tasks"/);
  });
});

describe('progress and skips', () => {
  it('records failed steps without throwing and lists skips', async () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    const p = new Progress(out);
    expect(await p.step('works', () => 42)).toBe(42);
    expect(await p.step('breaks', () => { throw new Error('nope'); })).toBeUndefined();
    p.skip('etcd', 'not installed');
    expect(p.outcomes).toEqual([
      { step: 'works', status: 'ok', seconds: expect.any(Number) },
      { step: 'breaks', status: 'failed', detail: 'nope', seconds: expect.any(Number) },
      { step: 'etcd', status: 'skipped', detail: 'not installed' },
    ]);
    expect(text).toMatch(/✗ breaks failed after [\d.]+ s: nope/);
    expect(text).toContain('– etcd skipped: not installed');
  });

  it('skips the etcd comparison cleanly when etcd is not on the PATH', () => {
    const env = { PATH: '/nonexistent' };
    expect(probeEtcd(env)).toEqual({ ok: false, reason: expect.stringMatching(/etcd is not installed/) });
    expect(peerReadiness('/nonexistent', env).ok).toBe(false);
  });
});

describe('runBench pipeline (runner scenarios only, quick)', () => {
  it('writes parts and a report with the skipped steps listed', async () => {
    const { runBench } = await import('../src/run.js');
    const out = tempDir('bench-run-');
    const sink = new PassThrough();
    sink.resume();
    const saved = process.env.PHALANX_BENCH_QUICK;
    try {
      const args = parseArgs(['--quick', '--no-packages', '--no-cluster', '--no-peer', '--out', out], {});
      const files = await runBench(args, path.resolve(import.meta.dirname, '../../..'), new Progress(sink));
      expect(existsSync(path.join(out, 'parts', 'phalanx-bench-app.json'))).toBe(true);
      const json = JSON.parse(readFileSync(files.json, 'utf8'));
      const names = json.records.map((r: { name: string }) => r.name);
      expect(names).toEqual(expect.arrayContaining(['encode vote', 'decode proposal', 'unreplicated kv-store apply']));
      expect(json.run.quick).toBe(true);
      const md = readFileSync(files.markdown, 'utf8');
      expect(md).toContain('**skipped** package benchmarks: --no-packages');
      expect(md).toContain('**skipped** peer comparison: etcd vs phalanx KV: --no-peer');
      expect(md).toContain('## Run steps');
      // Re-aggregating keeps the earlier run's step outcomes.
      const again = await runBench(parseArgs(['--report-only', '--out', out], {}), path.resolve(import.meta.dirname, '../../..'), new Progress(sink));
      expect(readFileSync(again.markdown, 'utf8')).toContain('**skipped** package benchmarks: --no-packages');
      expect(JSON.parse(readFileSync(again.json, 'utf8')).records).toHaveLength(json.records.length);
    } finally {
      if (saved === undefined) delete process.env.PHALANX_BENCH_QUICK;
      else process.env.PHALANX_BENCH_QUICK = saved;
    }
  }, 60_000);
});
