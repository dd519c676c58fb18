import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ConfigError, InsufficientReplicasError } from '@phalanx/interface';
import {
  assertBftSize,
  faultPower,
  faultTolerance,
  quorumPower,
  quorumSize,
  weakQuorumPower,
  weakQuorumSize,
} from '../src/index.js';

describe('thresholds for n = 3f+1', () => {
  it.each([
    [4, 1, 3],
    [7, 2, 5],
    [10, 3, 7],
    [31, 10, 21],
    [100, 33, 67],
  ])('n=%i tolerates f=%i with quorums of %i', (n, f, q) => {
    expect(faultTolerance(n)).toBe(f);
    expect(quorumSize(n)).toBe(q);
    expect(weakQuorumSize(n)).toBe(f + 1);
  });

  it('n < 4 is an InsufficientReplicasError naming needed and actual counts', () => {
    expect(() => assertBftSize(3)).toThrow(InsufficientReplicasError);
    try {
      assertBftSize(3);
    } catch (err) {
      expect(err).toMatchObject({ needed: 4, actual: 3 });
      expect((err as Error).message).toMatch(/need at least 4 replicas, have 3/);
    }
    expect(() => assertBftSize(6, 2)).toThrow(/need at least 7 replicas, have 6/);
    expect(() => assertBftSize(4)).not.toThrow();
  });

  it('rejects nonsense counts with ConfigError naming the parameter', () => {
    const refused = (path: string, message: string) => expect.objectContaining({ constructor: ConfigError, code: 'CONFIG', path, message: `${path}: ${message}` });
    for (const n of [0, -4, 4.5, Number.NaN]) {
      for (const fn of [faultTolerance, quorumSize, weakQuorumSize, assertBftSize]) {
        expect(() => fn(n)).toThrow(refused('n', `replica count must be a positive integer, got ${n}`));
      }
    }
    for (const p of [0, 1.5, Number.NaN, 2 ** 53]) {
      for (const fn of [quorumPower, faultPower, weakQuorumPower]) {
        expect(() => fn(p)).toThrow(refused('totalPower', `total power must be a positive integer, got ${p}`));
      }
    }
    // A bad f must not quietly shrink the quorum: f = -1 would give 2 of 4, which need not intersect.
    for (const f of [-1, 0.5, Number.NaN]) {
      for (const fn of [quorumSize, weakQuorumSize, assertBftSize]) {
        expect(() => fn(4, f)).toThrow(refused('f', `fault count must be a non-negative integer, got ${f}`));
      }
    }
    expect(quorumSize(4, 0)).toBe(3);
  });
});

describe('quorum intersection (the property safety rests on)', () => {
  it('any two quorums of any n intersect in at least f+1 replicas, and n-f honest replicas form one', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 500 }), (n) => {
        const f = faultTolerance(n);
        const q = quorumSize(n);
        // Two sets of size q out of n overlap in at least 2q - n members.
        expect(2 * q - n).toBeGreaterThanOrEqual(f + 1);
        expect(q).toBeLessThanOrEqual(n - f);
      }),
    );
  });

  it('weighted: any two sets with quorum power intersect in more than the faulty power', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 12 }), fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }), fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }), (powers, inA, inB) => {
        const total = powers.reduce((a, b) => a + b, 0);
        const q = quorumPower(total);
        let a = 0;
        let b = 0;
        let both = 0;
        powers.forEach((p, i) => {
          if (inA[i]) a += p;
          if (inB[i]) b += p;
          if (inA[i] && inB[i]) both += p;
        });
        if (a >= q && b >= q) expect(both).toBeGreaterThanOrEqual(faultPower(total) + 1);
        // And the honest power (total minus the faulty power) always reaches a quorum.
        expect(total - faultPower(total)).toBeGreaterThanOrEqual(q);
      }),
      { numRuns: 1000 },
    );
  });

  it('weighted thresholds stay exact up to the largest safe total power', () => {
    // With doubles, 2*total/3 rounds up near 2^53 and the quorum exceeded the honest power.
    for (const total of [Number.MAX_SAFE_INTEGER, 6755399441055745, 2 ** 52 + 2]) {
      const q = quorumPower(total);
      expect(BigInt(q)).toBe((2n * BigInt(total)) / 3n + 1n);
      expect(total - faultPower(total)).toBeGreaterThanOrEqual(q);
    }
    fc.assert(
      fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (total) => {
        const q = quorumPower(total);
        // q is the least power strictly above two thirds: 3(q-1) <= 2T < 3q.
        expect(3n * BigInt(q - 1)).toBeLessThanOrEqual(2n * BigInt(total));
        expect(3n * BigInt(q)).toBeGreaterThan(2n * BigInt(total));
        expect(total - faultPower(total)).toBeGreaterThanOrEqual(q);
      }),
    );
  });

  it('exhaustively for small n: every pair of quorum-sized subsets shares f+1 members', () => {
    for (let n = 4; n <= 10; n++) {
      const f = faultTolerance(n);
      const q = quorumSize(n);
      const subsets: number[] = [];
      for (let m = 0; m < 1 << n; m++) if (popcount(m) === q) subsets.push(m);
      for (const x of subsets) for (const y of subsets) expect(popcount(x & y)).toBeGreaterThanOrEqual(f + 1);
    }
  });
});

function popcount(x: number): number {
  let c = 0;
  for (; x; x &= x - 1) c++;
  return c;
}
