/**
 * Injected randomness. Cores never call Math.random: the simulator passes a seeded generator
 * so a run replays from its seed, and production passes one backed by a CSPRNG.
 */
export interface Rng {
  /** Uniform integer in [0, 2^32). */
  nextU32(): number;
  /** Uniform float in [0, 1). */
  nextFloat(): number;
  /** Uniform integer in [0, n) for 0 < n <= 2^32. */
  nextInt(n: number): number;
  /** `length` random bytes. */
  bytes(length: number): Uint8Array;
}
