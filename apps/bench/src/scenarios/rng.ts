import { ArgumentError } from '@phalanx/interface';
import type { Rng } from '@phalanx/interface';

/** Seeded SplitMix32-style generator: repeatable runs, no Math.random. */
export function seededRng(seed: number): Rng {
  let s = seed >>> 0;
  const nextU32 = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  return {
    nextU32,
    nextFloat: () => nextU32() / 2 ** 32,
    nextInt(n: number): number {
      // An integer, as the interface says: a fractional bound has no uniform integers below it.
      if (!(n > 0 && n <= 2 ** 32) || !Number.isInteger(n)) throw new ArgumentError('n', `nextInt bound must be an integer in (0, 2^32], got ${n}`);
      return Math.floor((nextU32() / 2 ** 32) * n);
    },
    bytes(length: number): Uint8Array {
      const out = new Uint8Array(length);
      for (let i = 0; i < length; i++) out[i] = nextU32() & 0xff;
      return out;
    },
  };
}
