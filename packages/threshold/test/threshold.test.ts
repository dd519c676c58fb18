import { beforeAll, describe, expect, it } from 'vitest';
import { CryptoError } from '@phalanx/interface';
import {
  activeBackend,
  coinFromSignature,
  coinMessage,
  coinShare,
  combineCoin,
  combineSignatures,
  InsufficientSharesError,
  loadBlstBackend,
  nobleBackend,
  scalarToBytes,
  seededRng,
  setBackend,
  sign,
  signShare,
  trustedDealerKeys,
  verifyShare,
  verifyThresholdSignature,
  reconstruct,
} from '../src/index.js';
import type { BlsBackend, SignatureShare } from '../src/index.js';
import { interpolateSignatures } from '../src/threshold.js';

const utf8 = (s: string) => new TextEncoder().encode(s);
const blst = await loadBlstBackend();
const backends: BlsBackend[] = blst ? [nobleBackend, blst] : [nobleBackend];
const t = 2;
const n = 5;
const { publicKey: pub, shares } = trustedDealerKeys(t, n, seededRng('threshold-test'));
const msg = utf8('commit height 9');
let sigShares: SignatureShare[] = [];
let expected: Uint8Array;

function withBackend<T>(b: BlsBackend, f: () => T): T {
  const before = activeBackend();
  setBackend(b);
  try {
    return f();
  } finally {
    setBackend(before);
  }
}

beforeAll(() => {
  sigShares = shares.map((s) => signShare(s, msg));
  // The group secret is only reconstructed here, in a test, to know the right answer.
  expected = sign(scalarToBytes(reconstruct(shares, t)), msg);
});

describe('threshold BLS (3-of-5)', () => {
  for (const backend of backends) {
    it(`${backend.name}: shares verify under their own key share only`, () => {
      withBackend(backend, () => {
        for (const s of sigShares) expect(verifyShare(pub, msg, s)).toBe(true);
        expect(verifyShare(pub, msg, { index: 2, signature: sigShares[0]!.signature })).toBe(false);
        expect(verifyShare(pub, utf8('other'), sigShares[0]!)).toBe(false);
        expect(verifyShare(pub, msg, { index: 6, signature: sigShares[0]!.signature })).toBe(false);
        expect(verifyShare(pub, msg, { index: 0, signature: sigShares[0]!.signature })).toBe(false);
      });
    });

    it(`${backend.name}: any t+1 shares combine to the one group signature`, () => {
      withBackend(backend, () => {
        for (const subset of [[0, 1, 2], [1, 3, 4], [4, 2, 0]]) {
          const res = combineSignatures(pub, msg, subset.map((i) => sigShares[i]!));
          expect(res.signature).toEqual(expected);
          expect(res.invalid).toEqual([]);
          expect(verifyThresholdSignature(pub, msg, res.signature)).toBe(true);
        }
      });
    });
  }

  it('bad shares are excluded and reported; combining still succeeds with t+1 valid ones', () => {
    const wrongMsg = signShare(shares[0]!, utf8('something else'));
    const list: SignatureShare[] = [
      wrongMsg, // index 1, valid point, wrong signature
      { index: 2, signature: new Uint8Array(96) }, // malformed
      { index: 9, signature: sigShares[2]!.signature }, // unknown index
      sigShares[2]!,
      { index: 3, signature: sigShares[2]!.signature }, // duplicate index
      sigShares[3]!,
      sigShares[4]!,
    ];
    const res = combineSignatures(pub, msg, list);
    expect(res.signature).toEqual(expected);
    expect(res.used).toEqual([3, 4, 5]);
    expect(res.invalid).toEqual(
      expect.arrayContaining([
        { index: 1, reason: 'bad-signature' },
        { index: 2, reason: 'malformed' },
        { index: 9, reason: 'unknown-index' },
        { index: 3, reason: 'duplicate-index' },
      ]),
    );
    expect(res.invalid).toHaveLength(4);
  });

  it('after a failed optimistic combine, unverified shares are reported as unchecked (duplicates do not hide them)', () => {
    const forged = { index: 1, signature: sigShares[1]!.signature };
    const res = combineSignatures(pub, msg, [forged, sigShares[1]!, sigShares[2]!, sigShares[3]!, { index: 5, signature: sigShares[3]!.signature }, sigShares[4]!]);
    expect(res.signature).toEqual(expected);
    expect(res.used).toEqual([2, 3, 4]);
    // The second index-5 share is a duplicate; the first one (a forgery) was never verified.
    expect(res.invalid).toEqual([
      { index: 5, reason: 'duplicate-index' },
      { index: 1, reason: 'bad-signature' },
    ]);
    expect(res.unchecked).toEqual([5]);
  });

  it('verifyAll names every bad share even when the optimistic subset would have been fine', () => {
    const forged = { index: 5, signature: sigShares[0]!.signature };
    const quick = combineSignatures(pub, msg, [...sigShares.slice(0, 4), forged]);
    expect(quick.invalid).toEqual([]);
    expect(quick.unchecked).toEqual([4, 5]);
    const full = combineSignatures(pub, msg, [...sigShares.slice(0, 4), forged], { verifyAll: true });
    expect(full.signature).toEqual(expected);
    expect(full.invalid).toEqual([{ index: 5, reason: 'bad-signature' }]);
    expect(full.unchecked).toEqual([]);
  });

  it('t shares (plus bad ones) cannot combine: InsufficientSharesError, never a wrong signature', () => {
    expect(() => combineSignatures(pub, msg, sigShares.slice(0, t))).toThrow(InsufficientSharesError);
    const withForged = [sigShares[0]!, sigShares[1]!, { index: 3, signature: sigShares[0]!.signature }];
    expect(() => combineSignatures(pub, msg, withForged)).toThrow(InsufficientSharesError);
    // Interpolating t shares (degree t−1) gives some point, but not the group signature.
    expect(interpolateSignatures(sigShares.slice(0, t))).not.toEqual(expected);
  });

  it('both backends interpolate to the same bytes for every subset shape (short and field coefficients)', () => {
    for (const subset of [[0, 1, 2], [1, 3, 4], [4, 2, 0], [0, 4], [3]]) {
      const list = subset.map((i) => sigShares[i]!);
      const outs = backends.map((b) => interpolateSignatures(list, b));
      for (const o of outs) expect(o).toEqual(outs[0]);
      if (subset.length === t + 1) expect(outs[0]).toEqual(expected);
    }
  });

  it('both backends compute the same linear combinations (signs, zeros, long and short scalars)', () => {
    const sigs = sigShares.map((s) => s.signature);
    const cases: bigint[][] = [
      [1n, 0n, 0n, 0n, 0n],
      [3n, -3n, 1n, 0n, 0n],
      [-1n, -2n, -3n, -4n, -5n],
      [2n ** 200n + 7n, -(2n ** 100n), 5n, 0n, 2n ** 254n],
      [1n, 1n, 1n, 1n, 1n],
    ];
    for (const ks of cases) {
      const outs = backends.map((b) => b.linearCombination(sigs, ks));
      for (const o of outs) expect(o).toEqual(outs[0]);
    }
    // k·P − k·P is the identity: both report it, neither crashes.
    const id = backends.map((b) => b.linearCombination([sigs[0]!, sigs[0]!], [5n, -5n]));
    for (const o of id) expect(o[0]).toBe(0xc0);
  });

  it('refuses to sign with an index 0 or zero share', () => {
    expect(() => signShare({ index: 0, value: 5n }, msg)).toThrow(CryptoError);
    expect(() => signShare({ index: 1, value: 0n }, msg)).toThrow(CryptoError);
  });
});

describe('common coin', () => {
  const instance = 'aba/epoch-3';
  const coinShares = (round: number) => shares.map((s) => coinShare(s, instance, round));

  it('any t+1 shares give the same coin; t shares cannot produce it', () => {
    const cs = coinShares(1);
    const a = combineCoin(pub, instance, 1, [cs[0]!, cs[1]!, cs[2]!]);
    const b = combineCoin(pub, instance, 1, [cs[4]!, cs[3]!, cs[1]!]);
    expect(a.bit).toBe(b.bit);
    expect(a.bytes).toEqual(b.bytes);
    expect(a.signature).toEqual(b.signature);
    expect([0, 1]).toContain(a.bit);
    expect(() => combineCoin(pub, instance, 1, [cs[0]!, cs[1]!])).toThrow(InsufficientSharesError);
    // Anyone holding the group key can re-derive the coin from the signature, and only for that round.
    expect(coinFromSignature(pub, instance, 1, a.signature).bytes).toEqual(a.bytes);
    expect(() => coinFromSignature(pub, instance, 2, a.signature)).toThrow(CryptoError);
    expect(() => coinFromSignature(pub, 'other', 1, a.signature)).toThrow(CryptoError);
  });

  it('round tags are domain separated and distinct per (instance, round)', () => {
    expect(coinMessage('x', 1)).not.toEqual(coinMessage('x', 2));
    expect(coinMessage('x|1', 2)).not.toEqual(coinMessage('x', 12));
    expect(() => coinMessage('x', -1)).toThrow(CryptoError);
  });
});
