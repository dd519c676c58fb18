import { describe, expect, it } from 'vitest';
import { ConfigError, CryptoError } from '@phalanx/interface';
import {
  deal,
  DuplicateShareIndexError,
  InconsistentSharesError,
  InsufficientSharesError,
  InvalidShareIndexError,
  ORDER,
  publicKeyShare,
  reconstruct,
  scalarFromBytes,
  scalarToBytes,
  seededRng,
  split,
  verifyFeldmanShare,
} from '../src/index.js';
import type { Share } from '../src/index.js';
import { lagrangeAtZero, lagrangeAtZeroIntegers, Fr } from '../src/field.js';

const rng = seededRng('shamir');
const secret = 0x5eed5eed5eed5eedn;

describe('Shamir over Fr', () => {
  const shares = split(secret, 2, 5, rng);

  it('any t+1 shares reconstruct the secret; order does not matter', () => {
    const subsets = [[0, 1, 2], [2, 3, 4], [4, 0, 2], [1, 3, 4]];
    for (const s of subsets) expect(reconstruct(s.map((i) => shares[i]!), 2)).toBe(secret);
    expect(reconstruct(shares, 2)).toBe(secret); // extra shares are checked, then ignored
  });

  it('t shares are refused with InsufficientSharesError naming the counts', () => {
    const err = (() => {
      try {
        reconstruct(shares.slice(0, 2), 2);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(InsufficientSharesError);
    expect(err).toBeInstanceOf(CryptoError);
    expect((err as InsufficientSharesError).needed).toBe(3);
    expect((err as InsufficientSharesError).actual).toBe(2);
    expect((err as InsufficientSharesError).code).toBe('INSUFFICIENT_SHARES');
  });

  it('duplicate indices, index 0, negative and non-integer indices are named errors', () => {
    expect(() => reconstruct([shares[0]!, shares[0]!, shares[1]!], 2)).toThrow(DuplicateShareIndexError);
    expect(() => reconstruct([{ index: 0, value: 1n }, shares[1]!, shares[2]!], 2)).toThrow(InvalidShareIndexError);
    expect(() => reconstruct([{ index: -1, value: 1n }, shares[1]!, shares[2]!], 2)).toThrow(InvalidShareIndexError);
    expect(() => reconstruct([{ index: 1.5, value: 1n }, shares[1]!, shares[2]!], 2)).toThrow(InvalidShareIndexError);
    expect(() => reconstruct([{ index: 1, value: ORDER }, shares[1]!, shares[2]!], 2)).toThrow(CryptoError);
  });

  it('an inconsistent share is detected by an extra share and named', () => {
    const bad: Share = { index: 4, value: Fr.add(shares[3]!.value, 1n) };
    const list = [shares[0]!, shares[1]!, shares[2]!, bad];
    expect(() => reconstruct(list, 2)).toThrow(InconsistentSharesError);
    try {
      reconstruct(list, 2);
    } catch (e) {
      expect((e as InconsistentSharesError).indices).toEqual([4]);
    }
    // With exactly t+1 shares a wrong one is undetectable without commitments: a wrong secret.
    expect(reconstruct([shares[0]!, shares[1]!, bad], 2)).not.toBe(secret);
  });

  it('bad config is a ConfigError', () => {
    expect(() => split(secret, 5, 5, rng)).toThrow(ConfigError);
    expect(() => split(secret, -1, 5, rng)).toThrow(ConfigError);
    expect(() => split(secret, 1, 0, rng)).toThrow(ConfigError);
    expect(() => split(ORDER, 1, 3, rng)).toThrow(CryptoError);
  });

  it('scalar encoding is strict and round-trips', () => {
    const s = shares[0]!.value;
    expect(scalarFromBytes(scalarToBytes(s))).toBe(s);
    expect(() => scalarFromBytes(new Uint8Array(31))).toThrow(CryptoError);
    expect(() => scalarFromBytes(new Uint8Array(32).fill(0xff))).toThrow(/not reduced/);
  });

  it('integer Lagrange coefficients agree with the field ones (and are binomials for 1..k)', () => {
    for (const idx of [[1, 2, 3], [2, 4, 5], [1, 7, 9, 10], [3, 5, 8, 13, 21]]) {
      const field = lagrangeAtZero(idx);
      const ints = lagrangeAtZeroIntegers(idx)!;
      const inv = Fr.inv(Fr.create(ints.denominator));
      expect(ints.coeffs.map((c) => Fr.mul(Fr.create(c), inv))).toEqual(field);
    }
    expect(lagrangeAtZeroIntegers([1, 2, 3])).toEqual({ coeffs: [3n, -3n, 1n], denominator: 1n });
  });
});

describe('Feldman VSS', () => {
  const { shares, commitments } = deal(secret, 2, 5, rng);

  it('every honest share verifies; a modified share or index does not', () => {
    for (const s of shares) expect(verifyFeldmanShare(commitments, s)).toBe(true);
    expect(verifyFeldmanShare(commitments, { index: 1, value: Fr.add(shares[0]!.value, 1n) })).toBe(false);
    expect(verifyFeldmanShare(commitments, { index: 2, value: shares[0]!.value })).toBe(false);
    expect(verifyFeldmanShare(commitments, { index: 0, value: secret })).toBe(false);
    expect(verifyFeldmanShare([new Uint8Array(48)], shares[0]!)).toBe(false); // malformed: false, not a throw
  });

  it('commitments pin the polynomial: C_0 is secret·G1 and key shares are s_i·G1', async () => {
    const { publicKeyOf } = await import('../src/index.js');
    expect(commitments[0]).toEqual(publicKeyOf(scalarToBytes(secret)));
    expect(publicKeyShare(commitments, 3)).toEqual(publicKeyOf(scalarToBytes(shares[2]!.value)));
  });

  it('reconstruct with the Feldman check names exactly the bad shares, even with only t+1', () => {
    const bad: Share = { index: 2, value: Fr.add(shares[1]!.value, 5n) };
    const check = (s: Share) => verifyFeldmanShare(commitments, s);
    expect(() => reconstruct([shares[0]!, bad, shares[2]!], 2, { verifyShare: check })).toThrow(InconsistentSharesError);
    expect(reconstruct([shares[4]!, shares[0]!, shares[2]!], 2, { verifyShare: check })).toBe(secret);
  });
});
