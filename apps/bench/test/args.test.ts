import { describe, it, expect } from 'vitest';
import { PassThrough } from 'node:stream';
import { parseArgs, UsageError } from '../src/args.js';
import { turboCommand } from '../src/packages.js';
import { Progress } from '../src/progress.js';
import { probeEtcd, peerReadiness } from '../src/scenarios/external.js';

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
    const a = parseArgs(['--sizes=4,7', '--protocols', 'pbft', '--filter', '@phalanx/crypto', '--no-peer', '--out', 'x'], {});
    expect(a).toMatchObject({ sizes: [4, 7], protocols: ['pbft'], filters: ['@phalanx/crypto'], peer: false, out: 'x' });
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
      { step: 'works', status: 'ok' },
      { step: 'breaks', status: 'failed', detail: 'nope' },
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
