/**
 * Feldman verifiable secret sharing (Feldman 1987): the dealer broadcasts C_k = a_k·G1 for the
 * coefficients a_k of its polynomial; party i checks s_i·G1 == Σ_k i^k·C_k. Commitments reveal
 * a_0·G1 (the public key of the shared secret), nothing more under discrete log.
 */
import type { Rng } from '@phalanx/interface';
import { CryptoError } from '@phalanx/interface';
import { ORDER } from './field.js';
import { decodeG1, encodeG1, G1 } from './points.js';
import type { G1Point } from './points.js';
import { checkThreshold, randomPolynomial, sharesOf } from './shamir.js';
import type { Share } from './shamir.js';

export interface FeldmanDealing {
  readonly shares: Share[];
  /** t+1 compressed G1 points, C_0 first. Broadcast them; send share i to party i privately. */
  readonly commitments: Uint8Array[];
}

export function commitPolynomial(coeffs: readonly bigint[]): Uint8Array[] {
  return coeffs.map((a) => encodeG1(G1.BASE.multiply(a)));
}

/** Deals `secret` with threshold t to parties 1..n. */
export function deal(secret: bigint, t: number, n: number, rng: Rng): FeldmanDealing {
  checkThreshold(t, n);
  const coeffs = randomPolynomial(secret, t, rng);
  return { shares: sharesOf(coeffs, n), commitments: commitPolynomial(coeffs) };
}

/** Decodes commitments; throws CryptoError naming the bad one. */
export function decodeCommitments(commitments: readonly Uint8Array[]): G1Point[] {
  if (commitments.length === 0) throw new CryptoError('no commitments');
  return commitments.map((c, k) => decodeG1(c, `commitments[${k}]`));
}

/** Σ_k index^k·C_k by Horner's rule (index is small and public). */
export function evalCommitments(points: readonly G1Point[], index: number): G1Point {
  const x = BigInt(index);
  let acc = points[points.length - 1]!;
  for (let k = points.length - 2; k >= 0; k--) acc = acc.multiplyUnsafe(x).add(points[k]!);
  return acc;
}

export function verifySharePoints(points: readonly G1Point[], share: Share): boolean {
  if (!Number.isSafeInteger(share.index) || share.index < 1) return false;
  if (share.value < 0n || share.value >= ORDER) return false;
  const lhs = share.value === 0n ? G1.ZERO : G1.BASE.multiply(share.value);
  return lhs.equals(evalCommitments(points, share.index));
}

/** True iff `share` lies on the committed polynomial. Never throws. */
export function verifyShare(commitments: readonly Uint8Array[], share: Share): boolean {
  try {
    return verifySharePoints(decodeCommitments(commitments), share);
  } catch {
    return false;
  }
}

/** The public key of party `index`'s share: f(index)·G1, computed from the commitments alone. */
export function publicKeyShare(commitments: readonly Uint8Array[], index: number): Uint8Array {
  return encodeG1(evalCommitments(decodeCommitments(commitments), index));
}

export { checkThreshold };
