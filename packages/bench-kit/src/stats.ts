/**
 * Small, dependency-free statistics for benchmark samples. Percentiles use the nearest-rank
 * method (the value at rank ⌈p/100 · n⌉ of the sorted samples), so a reported p99 is always a
 * latency that really happened, never an interpolation between two.
 */

export interface SampleStats {
  readonly count: number;
  readonly min: number;
  readonly max: number;
  readonly mean: number;
  /** Sample standard deviation (n − 1 in the denominator); 0 for a single sample. */
  readonly stddev: number;
  /** Relative margin of error at ~95 % confidence, in percent of the mean. */
  readonly rme: number;
}

/** Nearest-rank percentile of an ascending-sorted array. Throws `RangeError` on an empty array or p outside [0, 100]. */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) throw new RangeError('percentile of an empty sample set');
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within [0, 100], got ${p}`);
  if (p === 0) return sorted[0]!;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** Nearest-rank percentile of unsorted values (copies and sorts them). */
export function percentile(values: ArrayLike<number>, p: number): number {
  return percentileSorted(sortedCopy(values), p);
}

export function sortedCopy(values: ArrayLike<number>): Float64Array {
  const out = Float64Array.from(values as ArrayLike<number>);
  out.sort();
  return out;
}

/** Two-sided Student t critical values at 95 % for df = 1..30; beyond that the normal 1.96. */
const T95 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
  2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

export function sampleStats(values: ArrayLike<number>): SampleStats {
  const n = values.length;
  if (n === 0) throw new RangeError('statistics of an empty sample set');
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  const mean = sum / n;
  let sq = 0;
  for (let i = 0; i < n; i++) sq += (values[i]! - mean) ** 2;
  const stddev = n > 1 ? Math.sqrt(sq / (n - 1)) : 0;
  const t = n > 1 ? (T95[n - 2] ?? 1.96) : 0;
  const rme = n > 1 && mean !== 0 ? ((t * stddev) / Math.sqrt(n) / Math.abs(mean)) * 100 : 0;
  return { count: n, min, max, mean, stddev, rme };
}
