/**
 * Multi-scalar multiplication Σ k_i·P_i (Pippenger's bucket method) for public scalars of any
 * sign and length. Unlike noble's `pippenger`, the window count follows the longest scalar
 * actually present, so short Lagrange integers (see `lagrangeAtZeroIntegers`) cost
 * proportionally less, and empty buckets are skipped. Not constant time: callers pass only
 * public values (Lagrange coefficients, share indices).
 */
import type { WeierstrassPoint } from '@noble/curves/abstract/weierstrass.js';

function bitLength(x: bigint): number {
  return x === 0n ? 0 : x.toString(2).length;
}

export function msm<T>(zero: WeierstrassPoint<T>, points: readonly WeierstrassPoint<T>[], scalars: readonly bigint[]): WeierstrassPoint<T> {
  type P = WeierstrassPoint<T>;
  if (points.length !== scalars.length) throw new Error('msm: points and scalars differ in length');
  const pts: P[] = [];
  const ks: bigint[] = [];
  for (let i = 0; i < points.length; i++) {
    const k = scalars[i]!;
    if (k === 0n) continue;
    pts.push(k < 0n ? points[i]!.negate() : points[i]!);
    ks.push(k < 0n ? -k : k);
  }
  const n = pts.length;
  if (n === 0) return zero;
  const bits = Math.max(...ks.map(bitLength));
  // Small inputs: separate multiplications beat bucket bookkeeping.
  if (n <= 4) {
    let acc = zero;
    for (let i = 0; i < n; i++) acc = acc.add(pts[i]!.multiplyUnsafe(ks[i]!));
    return acc;
  }
  // Choose the window c minimising additions: ceil(bits/c)·(n + 2^(c+1)).
  let c = 1;
  let best = Infinity;
  for (let w = 1; w <= 16; w++) {
    const cost = Math.ceil(bits / w) * (n + 2 ** (w + 1));
    if (cost < best) {
      best = cost;
      c = w;
    }
  }
  const mask = (1n << BigInt(c)) - 1n;
  const windows = Math.ceil(bits / c);
  let sum = zero;
  for (let w = windows - 1; w >= 0; w--) {
    for (let d = 0; d < c && w !== windows - 1; d++) sum = sum.double();
    const buckets: (P | undefined)[] = new Array<P | undefined>(1 << c);
    const shift = BigInt(w * c);
    for (let i = 0; i < n; i++) {
      const digit = Number((ks[i]! >> shift) & mask);
      if (digit === 0) continue;
      const b = buckets[digit];
      buckets[digit] = b === undefined ? pts[i]! : b.add(pts[i]!);
    }
    let running: P | undefined;
    let windowSum: P | undefined;
    for (let j = buckets.length - 1; j > 0; j--) {
      const b = buckets[j];
      if (b !== undefined) running = running === undefined ? b : running.add(b);
      if (running !== undefined) windowSum = windowSum === undefined ? running : windowSum.add(running);
    }
    if (windowSum !== undefined) sum = sum.add(windowSum);
  }
  return sum;
}
