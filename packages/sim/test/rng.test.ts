import { describe, it, expect } from 'vitest';
import { ArgumentError } from '@phalanx/interface';
import { Xoshiro128, createRng } from '../src/rng.js';

/** An independent BigInt transcription of xoshiro128** 1.1 (Blackman & Vigna) to check against. */
function reference(state: [number, number, number, number], count: number): number[] {
  const m = 0xffffffffn;
  const s = state.map((x) => BigInt(x));
  const rotl = (x: bigint, k: bigint): bigint => ((x << k) | (x >> (32n - k))) & m;
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    out.push(Number((rotl((s[1]! * 5n) & m, 7n) * 9n) & m));
    const t = (s[1]! << 9n) & m;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11n);
  }
  return out;
}

describe('xoshiro128**', () => {
  it('matches the reference algorithm (first output for state 1,2,3,4 is 11520)', () => {
    const g = new Xoshiro128(1, 2, 3, 4);
    const got = Array.from({ length: 1000 }, () => g.nextU32());
    expect(got[0]).toBe(11520);
    expect(got).toEqual(reference([1, 2, 3, 4], 1000));
  });

  it('is a pure function of the seed, and nearby seeds differ', () => {
    const a = createRng(42n);
    const b = createRng(42);
    const c = createRng(43n);
    const xs = Array.from({ length: 50 }, () => a.nextU32());
    expect(Array.from({ length: 50 }, () => b.nextU32())).toEqual(xs);
    expect(Array.from({ length: 50 }, () => c.nextU32())).not.toEqual(xs);
  });

  it('nextInt stays in range and covers it roughly uniformly', () => {
    const g = createRng(7);
    const counts = new Array<number>(7).fill(0);
    for (let i = 0; i < 70_000; i++) counts[g.nextInt(7)]!++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(600);
    for (const n of [0, 1.5, -1, Number.NaN, 2 ** 32 + 1]) {
      expect(() => g.nextInt(n)).toThrow(expect.objectContaining({ constructor: ArgumentError, code: 'ARGUMENT', argument: 'n', message: `nextInt: n must be an integer in (0, 2^32], got ${n}` }));
    }
    expect(() => g.pick([])).toThrow(expect.objectContaining({ constructor: ArgumentError, code: 'ARGUMENT', argument: 'items', message: 'pick: empty list' }));
    expect(g.nextInt(2 ** 32)).toBeLessThan(2 ** 32);
  });

  it('nextFloat is in [0, 1); bytes has the asked length; shuffle is a permutation', () => {
    const g = createRng(9);
    for (let i = 0; i < 1000; i++) {
      const x = g.nextFloat();
      expect(x >= 0 && x < 1).toBe(true);
    }
    expect(g.bytes(7)).toHaveLength(7);
    const items = [1, 2, 3, 4, 5, 6];
    expect(g.shuffle(items).sort()).toEqual(items);
  });
});
