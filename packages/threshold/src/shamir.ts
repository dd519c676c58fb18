/**
 * Shamir secret sharing over Fr (Shamir 1979): the secret is f(0) of a random polynomial f of
 * degree t; party i holds f(i). Any t+1 shares determine f(0); t shares reveal nothing about it.
 */
import type { Rng } from '@phalanx/interface';
import { ConfigError, CryptoError } from '@phalanx/interface';
import { Fr, ORDER, MAX_INDEX, checkIndices, evalPoly, lagrangeAtZero, randomScalar } from './field.js';
import { InconsistentSharesError, InsufficientSharesError } from './errors.js';

/** f(index) for a party index in 1..n. */
export interface Share {
  readonly index: number;
  readonly value: bigint;
}

export function checkThreshold(t: number, n: number): void {
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_INDEX) throw new ConfigError('n', `must be an integer in 1..${MAX_INDEX}, got ${n}`);
  if (!Number.isSafeInteger(t) || t < 0 || t >= n) throw new ConfigError('t', `must be an integer in 0..n-1 (= ${n - 1}), got ${t}`);
}

/** A random polynomial of degree t with constant term `secret` (coefficients, constant first). */
export function randomPolynomial(secret: bigint, t: number, rng: Rng): bigint[] {
  if (secret < 0n || secret >= ORDER) throw new CryptoError('secret must be a scalar in [0, r)');
  const coeffs = [secret];
  for (let k = 1; k <= t; k++) coeffs.push(randomScalar(rng));
  return coeffs;
}

export function sharesOf(coeffs: readonly bigint[], n: number): Share[] {
  const shares: Share[] = [];
  for (let i = 1; i <= n; i++) shares.push({ index: i, value: evalPoly(coeffs, BigInt(i)) });
  return shares;
}

/** Splits `secret` into n shares, any t+1 of which reconstruct it. */
export function split(secret: bigint, t: number, n: number, rng: Rng): Share[] {
  checkThreshold(t, n);
  return sharesOf(randomPolynomial(secret, t, rng), n);
}

/** Value at `x` of the degree-(k−1) polynomial through the k given shares. */
function interpolateAt(shares: readonly Share[], x: bigint): bigint {
  const xs = shares.map((s) => BigInt(s.index));
  let acc = 0n;
  for (let i = 0; i < xs.length; i++) {
    let num = 1n;
    let den = 1n;
    for (let j = 0; j < xs.length; j++) {
      if (i === j) continue;
      num = Fr.mul(num, Fr.create(x - xs[j]!));
      den = Fr.mul(den, Fr.create(xs[i]! - xs[j]!));
    }
    acc = Fr.add(acc, Fr.mul(shares[i]!.value, Fr.div(num, den)));
  }
  return acc;
}

export interface ReconstructOptions {
  /** Feldman commitments: each share is checked against them and bad ones are named. */
  readonly verifyShare?: (share: Share) => boolean;
}

/**
 * f(0) from at least t+1 shares. Errors: `InvalidShareIndexError` (index 0, negative, too large),
 * `DuplicateShareIndexError`, `InsufficientSharesError` (fewer than t+1), and
 * `InconsistentSharesError` when extra shares (beyond t+1) do not lie on the polynomial through
 * the first t+1, or when `verifyShare` (e.g. a Feldman check) rejects a share.
 * With exactly t+1 shares and no `verifyShare`, a wrong share cannot be detected (any t+1 points
 * lie on some degree-t polynomial): pass one more share or the commitments.
 */
export function reconstruct(shares: readonly Share[], t: number, opts: ReconstructOptions = {}): bigint {
  checkIndices(shares.map((s) => s.index));
  for (const s of shares) {
    if (typeof s.value !== 'bigint' || s.value < 0n || s.value >= ORDER) throw new CryptoError(`share ${s.index}: value is not a scalar in [0, r)`);
  }
  if (shares.length < t + 1) throw new InsufficientSharesError(t + 1, shares.length);
  if (opts.verifyShare) {
    const bad = shares.filter((s) => !opts.verifyShare!(s)).map((s) => s.index);
    if (bad.length > 0) throw new InconsistentSharesError(`shares ${bad.join(', ')} do not match the commitments`, bad);
  }
  const base = shares.slice(0, t + 1);
  const extra = shares.slice(t + 1);
  const bad = extra.filter((s) => interpolateAt(base, BigInt(s.index)) !== s.value).map((s) => s.index);
  if (bad.length > 0) {
    throw new InconsistentSharesError(
      `shares are not on one degree-${t} polynomial (checked ${bad.join(', ')} against the first ${t + 1})`,
      bad,
    );
  }
  const lambdas = lagrangeAtZero(base.map((s) => s.index));
  let secret = 0n;
  base.forEach((s, i) => {
    secret = Fr.add(secret, Fr.mul(s.value, lambdas[i]!));
  });
  return secret;
}
