import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  activeBackend,
  combineSignatures,
  InsufficientSharesError,
  loadBlstBackend,
  ORDER,
  publicKeyOf,
  reconstruct,
  scalarToBytes,
  seededRng,
  setBackend,
  sign,
  signShare,
  split,
  trustedDealerKeys,
} from '../src/index.js';
import { interpolateSignatures } from '../src/threshold.js';
import { runDkg } from './dkg-driver.js';
import type { Behaviour } from './dkg-driver.js';

// BLS in pure JS is slow: few runs, small n. Long sweeps: PHALANX_LONG=1.
const runs = (quick: number) => (process.env['PHALANX_LONG'] === '1' ? quick * 10 : quick);
const utf8 = (s: string) => new TextEncoder().encode(s);

describe('Shamir properties', () => {
  it('any t+1 of n shares reconstruct the secret', () => {
    const case_ = fc
      .tuple(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 4 }))
      .chain(([t, extra]) =>
        fc.record({
          t: fc.constant(t),
          n: fc.constant(t + 1 + extra),
          pick: fc.shuffledSubarray(Array.from({ length: t + 1 + extra }, (_, i) => i), { minLength: t + 1 }),
          secret: fc.bigInt({ min: 0n, max: ORDER - 1n }),
          seed: fc.string(),
        }),
      );
    fc.assert(
      fc.property(case_, ({ t, n, pick, secret, seed }) => {
        const shares = split(secret, t, n, seededRng(seed));
        expect(reconstruct(pick.map((i) => shares[i]!), t)).toBe(secret);
      }),
      { numRuns: runs(50) },
    );
  });
});

describe('threshold signature properties (3-of-6)', () => {
  const t = 2;
  const n = 6;
  const { publicKey: pub, shares } = trustedDealerKeys(t, n, seededRng('prop'));
  const msg = utf8('property');
  const sigShares = shares.map((s) => signShare(s, msg));
  const expected = sign(scalarToBytes(reconstruct(shares, t)), msg);

  it('any t+1 of the n shares combine to the same signature', async () => {
    const before = activeBackend();
    setBackend((await loadBlstBackend()) ?? before); // verification of the result is the slow part
    try {
      fc.assert(
        fc.property(fc.shuffledSubarray(sigShares, { minLength: t + 1, maxLength: t + 1 }), (subset) => {
          expect(combineSignatures(pub, msg, subset).signature).toEqual(expected);
        }),
        { numRuns: runs(8) },
      );
    } finally {
      setBackend(before);
    }
  });

  it('t shares never combine, and their interpolation is not the signature', () => {
    fc.assert(
      fc.property(fc.shuffledSubarray(sigShares, { minLength: 1, maxLength: t }), (subset) => {
        expect(() => combineSignatures(pub, msg, subset)).toThrow(InsufficientSharesError);
        expect(interpolateSignatures(subset)).not.toEqual(expected);
      }),
      { numRuns: runs(6) },
    );
  });
});

describe('DKG property', () => {
  const attacks: Behaviour[] = [
    'silent',
    'bad-shares',
    'bad-shares-bad-justification',
    'bad-shares-no-justification',
    'inconsistent-commitments',
    'false-complainer',
  ];
  it('with up to t malicious dealers, honest parties agree on one key and only cheaters are disqualified', () => {
    const scenario = fc
      .constantFrom([4, 1] as const, [5, 2] as const)
      .chain(([n, t]) =>
        fc.record({
          n: fc.constant(n),
          t: fc.constant(t),
          bad: fc.uniqueArray(fc.integer({ min: 1, max: n }), { minLength: 0, maxLength: t }),
          kinds: fc.array(fc.constantFrom(...attacks), { minLength: t, maxLength: t }),
          seed: fc.string({ maxLength: 8 }),
        }),
      );
    fc.assert(
      fc.property(scenario, ({ n, t, bad, kinds, seed }) => {
        const behaviours: Behaviour[] = Array.from({ length: n }, () => 'honest');
        bad.forEach((p, i) => (behaviours[p - 1] = kinds[i]!));
        const run = runDkg(n, t, behaviours, `prop/${seed}`, false);
        const honest = run.honest.map((i) => run.parties[i - 1]!);
        const first = honest[0]!.result()!;
        for (const p of honest) {
          expect(p.phase).toBe('done');
          expect(p.result()!.publicKey).toEqual(first.publicKey);
          expect(p.result()!.disqualified).toEqual(first.disqualified);
        }
        for (const d of first.disqualified) expect(bad).toContain(d.dealer);
        for (const p of bad) {
          const b = behaviours[p - 1]!;
          const dq = first.disqualified.some((d) => d.dealer === p);
          // Dealers that cheat and cannot justify are always removed; the others may stay.
          if (b === 'silent' || b === 'inconsistent-commitments' || b.includes('justification')) expect(dq).toBe(true);
          else expect(dq).toBe(false);
        }
        const secret = reconstruct(honest.map((p) => p.result()!.secretShare), t);
        expect(publicKeyOf(scalarToBytes(secret))).toEqual(first.publicKey.groupPublicKey);
      }),
      { numRuns: runs(5) },
    );
  });
});
