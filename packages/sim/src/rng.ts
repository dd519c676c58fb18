import { ArgumentError } from '@phalanx/interface';
import type { Rng } from '@phalanx/interface';

const TWO_32 = 4294967296;

/** `Rng` plus the helpers adversaries and fault profiles use. */
export interface SimRng extends Rng {
  chance(p: number): boolean;
  between(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  shuffle<T>(items: readonly T[]): T[];
}

/** splitmix64 step (Steele, Lea, Flood 2014): spreads a seed's bits over the generator state. */
function splitmix64(state: { x: bigint }): bigint {
  const mask = (1n << 64n) - 1n;
  state.x = (state.x + 0x9e3779b97f4a7c15n) & mask;
  let z = state.x;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & mask;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & mask;
  return z ^ (z >> 31n);
}

/**
 * xoshiro128** 1.1 (Blackman & Vigna): 128 bits of state, period 2^128 − 1, passes BigCrush,
 * and needs only 32-bit integer ops, which V8 runs without allocating. One instance drives a
 * whole simulation so that a run is a pure function of its seed.
 */
export class Xoshiro128 implements SimRng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** Seeds through splitmix64 so that nearby seeds (1, 2, 3 …) give unrelated streams. */
  static fromSeed(seed: bigint | number): Xoshiro128 {
    const st = { x: BigInt.asUintN(64, BigInt(seed)) };
    const a = splitmix64(st);
    const b = splitmix64(st);
    return new Xoshiro128(Number(a & 0xffffffffn), Number(a >> 32n), Number(b & 0xffffffffn), Number(b >> 32n));
  }

  /** Raw state constructor (used by the reference-vector test). The state must not be all zero. */
  constructor(s0: number, s1: number, s2: number, s3: number) {
    this.s0 = s0 >>> 0;
    this.s1 = s1 >>> 0;
    this.s2 = s2 >>> 0;
    this.s3 = s3 >>> 0;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  nextU32(): number {
    const s1 = this.s1;
    const m = Math.imul(s1, 5);
    const result = Math.imul((m << 7) | (m >>> 25), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = (this.s3 << 11) | (this.s3 >>> 21);
    return result;
  }

  nextFloat(): number {
    return this.nextU32() / TWO_32;
  }

  /** Unbiased: rejects the top sliver of the 32-bit range that would favour small values. */
  nextInt(n: number): number {
    if (!(n > 0 && n <= TWO_32) || !Number.isInteger(n)) throw new ArgumentError('n', `nextInt: n must be an integer in (0, 2^32], got ${n}`);
    const limit = TWO_32 - (TWO_32 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i += 4) {
      let x = this.nextU32();
      for (let j = i; j < Math.min(i + 4, length); j++) {
        out[j] = x & 0xff;
        x >>>= 8;
      }
    }
    return out;
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && this.nextFloat() < p;
  }

  /** Uniform float in [min, max). */
  between(min: number, max: number): number {
    return min + (max - min) * this.nextFloat();
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new ArgumentError('items', 'pick: empty list');
    return items[this.nextInt(items.length)] as T;
  }

  /** Fisher–Yates shuffle of a copy. */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const tmp = out[i] as T;
      out[i] = out[j] as T;
      out[j] = tmp;
    }
    return out;
  }
}

/** The simulator's generator for `seed`. */
export function createRng(seed: bigint | number): Xoshiro128 {
  return Xoshiro128.fromSeed(seed);
}
