/**
 * Threshold BLS (Boldyreva 2003) on the min-pk POP suite: party i signs with its share x_i,
 * σ_i = x_i·H(m); any t+1 valid shares combine by Lagrange interpolation at 0 into
 * σ = x·H(m), the ordinary BLS signature under the group key X = x·G1. The group signature is
 * unique, so it does not depend on which t+1 shares were used (the common coin relies on this).
 */
import type { Rng } from '@phalanx/interface';
import { CryptoError } from '@phalanx/interface';
import { activeBackend } from './backend.js';
import type { BlsBackend } from './backend.js';
import { Fr, MAX_INDEX, lagrangeAtZero, lagrangeAtZeroIntegers, randomScalar } from './field.js';
import { deal, decodeCommitments, evalCommitments } from './feldman.js';
import { InsufficientSharesError, InvalidShareIndexError } from './errors.js';
import { decodeG1, encodeG1 } from './points.js';
import { signWithScalar } from './bls.js';
import { DST_SIG_POP } from './suite.js';
import type { Share } from './shamir.js';

export interface SignatureShare {
  /** The signer's party index, 1..n. */
  readonly index: number;
  /** σ_i, a 96-byte compressed G2 point. */
  readonly signature: Uint8Array;
}

/** What every verifier of a threshold group knows: t, the group key and each party's key share. */
export interface ThresholdPublicKey {
  readonly threshold: number;
  /** X = x·G1, 48 bytes. */
  readonly groupPublicKey: Uint8Array;
  /** publicKeyShares[i-1] = x_i·G1 for party i. */
  readonly publicKeyShares: readonly Uint8Array[];
}

/** Checks the shape of a ThresholdPublicKey (encodings, t < n). Throws CryptoError. */
export function checkThresholdPublicKey(pub: ThresholdPublicKey): void {
  const n = pub.publicKeyShares.length;
  if (!Number.isSafeInteger(pub.threshold) || pub.threshold < 0 || pub.threshold >= n) {
    throw new CryptoError(`threshold ${pub.threshold} must be in 0..${n - 1}`);
  }
  decodeG1(pub.groupPublicKey, 'groupPublicKey');
  pub.publicKeyShares.forEach((pk, i) => decodeG1(pk, `publicKeyShares[${i}]`));
}

/** σ_i = x_i·H(m) under the POP suite. */
export function signShare(share: Share, message: Uint8Array): SignatureShare {
  if (!Number.isSafeInteger(share.index) || share.index < 1 || share.index > MAX_INDEX) {
    throw new InvalidShareIndexError(share.index, `must be in 1..${MAX_INDEX}`);
  }
  if (share.value <= 0n || share.value >= Fr.ORDER) throw new CryptoError('secret share must be a non-zero scalar');
  return { index: share.index, signature: signWithScalar(share.value, message, DST_SIG_POP) };
}

/** True iff σ_i verifies under party i's public key share. Never throws. */
export function verifyShare(pub: ThresholdPublicKey, message: Uint8Array, share: SignatureShare): boolean {
  const pk = Number.isSafeInteger(share.index) ? pub.publicKeyShares[share.index - 1] : undefined;
  if (pk === undefined || share.index < 1) return false;
  return activeBackend().verify(pk, message, share.signature, DST_SIG_POP);
}

/** True iff σ is the group's signature on `message` (an ordinary BLS verify under X). Never throws. */
export function verifyThresholdSignature(pub: ThresholdPublicKey, message: Uint8Array, signature: Uint8Array): boolean {
  return activeBackend().verify(pub.groupPublicKey, message, signature, DST_SIG_POP);
}

/**
 * Σ λ_i·σ_i over exactly the given shares, WITHOUT checking anything: a wrong share gives a
 * wrong result. `combineSignatures` is the checked API; this is exposed for benchmarks and for
 * callers that verified every share already. Shares must be valid encodings (`decodeSignature`).
 *
 * When the index set allows (e.g. 1..t+1, where the coefficients are binomials) we combine with
 * short integers c_i = D·λ_i and multiply by D⁻¹ once, which is far cheaper than 255-bit field
 * coefficients; a rough cost model (points × scalar bits) picks the cheaper form.
 */
export function interpolateSignatures(shares: readonly SignatureShare[], backend: BlsBackend = activeBackend()): Uint8Array {
  const indices = shares.map((s) => s.index);
  const sigs = shares.map((s) => s.signature);
  const ints = lagrangeAtZeroIntegers(indices);
  if (ints !== undefined) {
    const bits = Math.max(...ints.coeffs.map((c) => (c < 0n ? -c : c).toString(2).length));
    const intCost = shares.length * bits + (ints.denominator === 1n ? 0 : 255);
    if (intCost < shares.length * 255) {
      const scaled = backend.linearCombination(sigs, ints.coeffs);
      if (ints.denominator === 1n) return scaled;
      return backend.linearCombination([scaled], [Fr.inv(Fr.create(ints.denominator))]);
    }
  }
  return backend.linearCombination(sigs, lagrangeAtZero(indices));
}

export interface InvalidShare {
  readonly index: number;
  readonly reason: 'malformed' | 'unknown-index' | 'duplicate-index' | 'bad-signature';
}

export interface CombineResult {
  /** The group signature, already verified against the group key. */
  readonly signature: Uint8Array;
  /** Indices of the t+1 shares combined. */
  readonly used: readonly number[];
  /** Shares found bad and excluded, with why. */
  readonly invalid: readonly InvalidShare[];
  /** Shares neither used nor checked (the optimistic path succeeded without them). */
  readonly unchecked: readonly number[];
}

export interface CombineOptions {
  /**
   * Verify every share individually before combining (one pairing each) so every bad share is
   * named. Default false: combine the first t+1 well-formed shares and verify only the result;
   * verify shares one by one only if that fails.
   */
  readonly verifyAll?: boolean;
}

/**
 * Combines signature shares into the group signature. Malformed shares, unknown or duplicate
 * indices and shares that fail verification are excluded and reported; the result is always
 * checked against the group key, so a bad share is never silently combined. Throws
 * `InsufficientSharesError` when fewer than t+1 valid shares remain.
 */
export function combineSignatures(
  pub: ThresholdPublicKey,
  message: Uint8Array,
  shares: readonly SignatureShare[],
  opts: CombineOptions = {},
): CombineResult {
  const t = pub.threshold;
  const n = pub.publicKeyShares.length;
  const invalid: InvalidShare[] = [];
  const seen = new Set<number>();
  const backend = activeBackend();
  const candidates: SignatureShare[] = [];
  for (const s of shares) {
    if (!Number.isSafeInteger(s.index) || s.index < 1 || s.index > n) {
      invalid.push({ index: s.index, reason: 'unknown-index' });
      continue;
    }
    if (seen.has(s.index)) {
      invalid.push({ index: s.index, reason: 'duplicate-index' });
      continue;
    }
    seen.add(s.index);
    try {
      backend.checkSignature(s.signature); // full checks; throws on a bad encoding
      candidates.push(s);
    } catch {
      invalid.push({ index: s.index, reason: 'malformed' });
    }
  }
  const finish = (chosen: typeof candidates, rest: typeof candidates): CombineResult | undefined => {
    // The interpolation is unchecked; the verification right below (with a subgroup check) is what
    // makes the result trustworthy.
    const sig = interpolateSignatures(chosen, backend);
    if (!verifyThresholdSignature(pub, message, sig)) return undefined;
    return { signature: sig, used: chosen.map((c) => c.index), invalid, unchecked: rest.map((c) => c.index) };
  };
  if (!opts.verifyAll && candidates.length >= t + 1) {
    const ok = finish(candidates.slice(0, t + 1), candidates.slice(t + 1));
    if (ok) return ok;
  }
  // Slow path (or verifyAll): check shares one by one, drop the bad ones.
  const good: typeof candidates = [];
  const checked = new Set<SignatureShare>();
  for (const c of candidates) {
    checked.add(c);
    if (verifyShare(pub, message, c)) good.push(c);
    else invalid.push({ index: c.index, reason: 'bad-signature' });
    if (!opts.verifyAll && good.length === t + 1) break;
  }
  if (good.length < t + 1) throw new InsufficientSharesError(t + 1, good.length, 'valid signature shares');
  const result = finish(
    good.slice(0, t + 1),
    candidates.filter((c) => !checked.has(c)),
  );
  // t+1 individually valid shares always interpolate to the group signature when the key shares
  // come from one degree-t polynomial; failing here means `pub` itself is inconsistent.
  if (!result) throw new CryptoError('valid shares did not combine to a signature under the group key: inconsistent ThresholdPublicKey');
  return result;
}

/**
 * Trusted-dealer setup: one party that knows the group secret deals it with Feldman commitments.
 * For tests, simulations and deployments that accept a dealer; use the DKG (dkg.ts) otherwise.
 */
export function trustedDealerKeys(t: number, n: number, rng: Rng): { publicKey: ThresholdPublicKey; shares: Share[] } {
  const { shares, commitments } = deal(randomScalar(rng), t, n, rng);
  const points = decodeCommitments(commitments);
  return {
    publicKey: {
      threshold: t,
      groupPublicKey: commitments[0]!,
      publicKeyShares: shares.map((s) => encodeG1(evalCommitments(points, s.index))),
    },
    shares,
  };
}
