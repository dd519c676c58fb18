/**
 * Fault thresholds. With n replicas of which at most f are Byzantine, safety needs any two
 * quorums to share at least one honest replica, i.e. to intersect in f+1 replicas:
 * 2q - n >= f + 1. Liveness needs a quorum of honest replicas: q <= n - f. Both hold for
 * q = ceil((n + f + 1) / 2) whenever n >= 3f + 1 (Castro & Liskov §3; Bracha & Toueg 1985).
 */
import { ConfigError, InsufficientReplicasError } from '@phalanx/interface';

/** Largest f with n >= 3f + 1. */
export function faultTolerance(n: number): number {
  assertCount(n);
  return Math.floor((n - 1) / 3);
}

/** Smallest quorum whose pairwise intersections hold f+1 replicas; 2f+1 when n = 3f+1. */
export function quorumSize(n: number, f = faultTolerance(n)): number {
  assertCount(n);
  assertFaults(f);
  return Math.ceil((n + f + 1) / 2);
}

/** f+1: enough replicas that at least one of them is honest. */
export function weakQuorumSize(n: number, f = faultTolerance(n)): number {
  assertCount(n);
  assertFaults(f);
  return f + 1;
}

/**
 * Throws `InsufficientReplicasError` unless n replicas can tolerate `f` Byzantine ones
 * (n >= 3f+1) and at least one (n >= 4): BFT below four replicas tolerates nothing.
 */
export function assertBftSize(n: number, f = 1): void {
  assertCount(n);
  assertFaults(f);
  const needed = Math.max(4, 3 * f + 1);
  if (n < needed) {
    throw new InsufficientReplicasError(needed, n, `Byzantine fault tolerance of f=${f} needs n >= 3f+1`);
  }
}

/** Power strictly above two thirds of `totalPower`: the weighted quorum (Tendermint, HotStuff). */
export function quorumPower(totalPower: number): number {
  assertPower(totalPower);
  // In bigint: above ~6.7e15, 2*total/3 as a double can round up to the next integer and the
  // quorum would come out one too high (a set that could still commit would stall).
  return Number((2n * BigInt(totalPower)) / 3n) + 1;
}

/** Largest Byzantine power a weighted set tolerates: total >= 3f + 1. */
export function faultPower(totalPower: number): number {
  assertPower(totalPower);
  return Math.floor((totalPower - 1) / 3);
}

/** Power strictly above one third: enough that some honest power is among it. */
export function weakQuorumPower(totalPower: number): number {
  return faultPower(totalPower) + 1;
}

// Counts and power come from the configured validator set, so a nonsense one is a ConfigError;
// its path is the parameter's name (n, f, totalPower).
function assertCount(n: number): void {
  if (!Number.isSafeInteger(n) || n < 1) throw new ConfigError('n', `replica count must be a positive integer, got ${n}`);
}

/** A negative or fractional f would shrink quorums below intersection (f = -1 gives n/2). */
function assertFaults(f: number): void {
  if (!Number.isSafeInteger(f) || f < 0) throw new ConfigError('f', `fault count must be a non-negative integer, got ${f}`);
}

function assertPower(p: number): void {
  if (!Number.isSafeInteger(p) || p < 1) throw new ConfigError('totalPower', `total power must be a positive integer, got ${p}`);
}
