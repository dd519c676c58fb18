import { describe, it, expect } from 'vitest';
import { ConfigError } from '@phalanx/interface';
import { main, parseArgs } from '../src/cli.js';
import { toyAdapter } from './fixtures/toy-bft.js';
import type { SimAdapter } from '../src/index.js';

const broken = toyAdapter({ quorum: 2 }) as SimAdapter<unknown, unknown>;
const correct = toyAdapter() as SimAdapter<unknown, unknown>;

async function run(argv: string[], adapter: SimAdapter<unknown, unknown>): Promise<{ code: number; out: string[] }> {
  const out: string[] = [];
  const code = await main(argv, (l) => out.push(l), adapter);
  return { code, out };
}

describe('pnpm sim', () => {
  it('a sweep over a broken protocol exits 1 and prints ONE replay line first', async () => {
    const { code, out } = await run(['--protocol', 'toy-bft-q2', '--seeds', '5', '--faults', 'equivocate'], broken);
    expect(code).toBe(1);
    const text = out.join('\n');
    const replays = text.split('\n').filter((l) => l.startsWith('replay: '));
    expect(replays).toHaveLength(1);
    const replay = replays[0]!.slice('replay: '.length);
    expect(replay).toMatch(/^pnpm sim --protocol toy-bft-q2 --seed 0x[0-9a-f]+ --faults equivocate$/);
    // The replay line, fed back, reproduces the failure with the same trace.
    const again = await run(replay.split(' ').slice(2), broken);
    expect(again.code).toBe(1);
    const traceOf = (lines: string[]) => lines.join('\n').match(/trace sha256 ([0-9a-f]+)/)?.[1];
    expect(traceOf(again.out)).toBe(traceOf(out));
  });

  it('a passing sweep exits 0 and reports deliveries', async () => {
    const { code, out } = await run(['--protocol', 'toy-bft', '--seeds', '2'], correct);
    expect(code).toBe(0);
    expect(out.at(-1)).toMatch(/^ok: toy-bft faults=none n=4: 2 seed\(s\)/);
  });

  it('replaying a passing seed prints its trace', async () => {
    const { code, out } = await run(['--protocol', 'toy-bft', '--seed', '0x2a', '--trace-lines', '10'], correct);
    expect(code).toBe(0);
    expect(out).toHaveLength(11);
  });

  it('rejects bad arguments with a usage message and a ConfigError naming the flag', async () => {
    expect((await run(['--seeds', '3'], correct)).code).toBe(2);
    expect(() => parseArgs(['--protocol', 'x', '--faults', 'lossy+nope'])).toThrow(/unknown fault profile "nope"/);
    expect(parseArgs(['--protocol', 'x', '--faults', 'lossy+crash']).faults).toBe('lossy+crash');
    const refused = (path: string, message: string | RegExp) => expect.objectContaining({ constructor: ConfigError, code: 'CONFIG', path, message: typeof message === 'string' ? message : expect.stringMatching(message) });
    expect(() => parseArgs(['--protocol', 'x', '--seeds', '0'])).toThrow(refused('--seeds', '--seeds: expected an integer >= 1, got "0"'));
    expect(() => parseArgs(['--protocol', 'x', '--n'])).toThrow(refused('--n', '--n: needs a value'));
    expect(() => parseArgs(['--protocol', 'x', '--seed', 'zz'])).toThrow(refused('--seed', /^--seed: not a seed: "zz"/));
    expect(() => parseArgs(['--protocol', 'x', '--seed-base', 'zz'])).toThrow(refused('--seed-base', /^--seed-base: not a seed: "zz"/));
    expect(() => parseArgs(['--protocol', 'x', '--faults', 'nope'])).toThrow(refused('faults', /^faults: unknown fault profile "nope"/));
    expect(() => parseArgs(['--protocol', 'x', '--bogus'])).toThrow(refused('--bogus', /^--bogus: unknown option\nusage: pnpm sim/));
    expect(() => parseArgs(['--seeds', '3'])).toThrow(refused('--protocol', /^--protocol: required \(or --module\)\nusage: pnpm sim/));
  });
});
