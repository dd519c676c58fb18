/**
 * Arithmetic in the BLS12-381 scalar field Fr (order r, 255 bits): random scalars from an
 * injected Rng, canonical 32-byte encodings, polynomials and Lagrange coefficients.
 */
import { bls12_381 } from '@noble/curves/bls12-381.js';
import type { Rng } from '@phalanx/interface';
import { CryptoError } from '@phalanx/interface';
import { InvalidShareIndexError, DuplicateShareIndexError } from './errors.js';

export const Fr = bls12_381.fields.Fr;
/** The prime order r of G1, G2 and GT. */
export const ORDER: bigint = Fr.ORDER;
export const SCALAR_BYTES = 32;

/** Largest share index we accept: indices are party numbers and must stay small safe integers. */
export const MAX_INDEX = 65535;

/**
 * A uniform non-zero scalar. We draw 64 bytes and reduce mod r, so the bias is about 2^-256
 * (a 32-byte draw reduced mod r would be visibly biased since r ≈ 0.45·2^256).
 */
export function randomScalar(rng: Rng): bigint {
  for (;;) {
    const wide = rng.bytes(64);
    let x = 0n;
    for (const b of wide) x = (x << 8n) | BigInt(b);
    const s = x % ORDER;
    if (s !== 0n) return s;
  }
}

export function scalarToBytes(s: bigint): Uint8Array {
  if (s < 0n || s >= ORDER) throw new CryptoError('scalar out of range');
  const out = new Uint8Array(SCALAR_BYTES);
  let x = s;
  for (let i = SCALAR_BYTES - 1; i >= 0; i--) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

/** Strict decoding: exactly 32 big-endian bytes, value < r (no silent reduction). */
export function scalarFromBytes(bytes: Uint8Array): bigint {
  if (bytes.length !== SCALAR_BYTES) throw new CryptoError(`scalar must be ${SCALAR_BYTES} bytes, got ${bytes.length}`);
  let x = 0n;
  for (const b of bytes) x = (x << 8n) | BigInt(b);
  if (x >= ORDER) throw new CryptoError('scalar is not reduced modulo r');
  return x;
}

/** f(x) for f given by its coefficients (constant term first), Horner's rule. */
export function evalPoly(coeffs: readonly bigint[], x: bigint): bigint {
  let acc = 0n;
  for (let k = coeffs.length - 1; k >= 0; k--) acc = Fr.add(Fr.mul(acc, x), coeffs[k]!);
  return acc;
}

/** Checks indices are integers in 1..MAX_INDEX and pairwise distinct. */
export function checkIndices(indices: readonly number[]): void {
  const seen = new Set<number>();
  for (const i of indices) {
    if (!Number.isSafeInteger(i)) throw new InvalidShareIndexError(i, 'not an integer');
    if (i === 0) throw new InvalidShareIndexError(i, 'index 0 is the secret itself');
    if (i < 0 || i > MAX_INDEX) throw new InvalidShareIndexError(i, `must be in 1..${MAX_INDEX}`);
    if (seen.has(i)) throw new DuplicateShareIndexError(i);
    seen.add(i);
  }
}

/**
 * Lagrange coefficients λ_i at x = 0 for the evaluation points `indices`:
 * λ_i = Π_{j≠i} x_j / (x_j − x_i), so that f(0) = Σ λ_i f(x_i) for any f of degree < |indices|.
 * One batched inversion for all denominators.
 */
export function lagrangeAtZero(indices: readonly number[]): bigint[] {
  checkIndices(indices);
  const xs = indices.map(BigInt);
  const nums: bigint[] = [];
  const dens: bigint[] = [];
  for (let i = 0; i < xs.length; i++) {
    let num = 1n;
    let den = 1n;
    for (let j = 0; j < xs.length; j++) {
      if (i === j) continue;
      num = Fr.mul(num, xs[j]!);
      den = Fr.mul(den, Fr.create(xs[j]! - xs[i]!));
    }
    nums.push(num);
    dens.push(den);
  }
  const inv = Fr.invertBatch(dens);
  return nums.map((n, i) => Fr.mul(n, inv[i]!));
}

function gcd(a: bigint, b: bigint): bigint {
  let x = a < 0n ? -a : a;
  let y = b < 0n ? -b : b;
  while (y !== 0n) [x, y] = [y, x % y];
  return x;
}

/**
 * Lagrange coefficients at 0 as exact integers over a common denominator D:
 * D·λ_i = c_i with c_i ∈ ℤ. For consecutive indices 1..k, D = 1 and c_i = ±C(k, i), which are
 * far shorter than 255-bit field elements; a multi-scalar multiplication with short scalars is
 * several times cheaper, and D⁻¹ costs one extra scalar multiplication only when D ≠ 1.
 * Returns undefined when the integers would not be shorter than field elements.
 */
export function lagrangeAtZeroIntegers(indices: readonly number[]): { coeffs: bigint[]; denominator: bigint } | undefined {
  checkIndices(indices);
  const xs = indices.map(BigInt);
  const num: bigint[] = [];
  const den: bigint[] = [];
  for (let i = 0; i < xs.length; i++) {
    let n = 1n;
    let d = 1n;
    for (let j = 0; j < xs.length; j++) {
      if (i === j) continue;
      n *= xs[j]!;
      d *= xs[j]! - xs[i]!;
    }
    const g = gcd(n, d);
    n /= g;
    d /= g;
    if (d < 0n) {
      n = -n;
      d = -d;
    }
    num.push(n);
    den.push(d);
  }
  let D = 1n;
  for (const d of den) D = (D / gcd(D, d)) * d;
  const coeffs = num.map((n, i) => n * (D / den[i]!));
  const maxBits = Math.max(...coeffs.map((c) => (c < 0n ? -c : c).toString(2).length));
  if (maxBits >= 200 || D >= ORDER) return undefined;
  return { coeffs, denominator: D };
}
