import { performance } from 'node:perf_hooks';
import { percentileSorted, sortedCopy } from './stats.js';

export interface LatencySummary {
  readonly count: number;
  readonly min: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

export interface LatencyRecorder {
  /** Records one latency, in milliseconds. Negative or non-finite values throw `RangeError`. */
  record(ms: number): void;
  /** Starts a timer; calling the returned function records and returns the elapsed milliseconds. */
  start(): () => number;
  /** Awaits `fn` and records how long it took. */
  time<T>(fn: () => T | Promise<T>): Promise<T>;
  readonly count: number;
  /** Nearest-rank percentiles; throws `RangeError` when nothing was recorded. */
  summary(): LatencySummary;
  /** A copy of the recorded values, in recording order. */
  values(): Float64Array;
  reset(): void;
}

/** Collects latencies (ms) in a growable typed array: no per-sample object allocation. */
export function latencyRecorder(initialCapacity = 1024): LatencyRecorder {
  let buf = new Float64Array(Math.max(16, initialCapacity));
  let n = 0;
  const record = (ms: number): void => {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`latency must be a finite non-negative number, got ${ms}`);
    if (n === buf.length) {
      const next = new Float64Array(buf.length * 2);
      next.set(buf);
      buf = next;
    }
    buf[n++] = ms;
  };
  return {
    record,
    start() {
      const t0 = performance.now();
      return () => {
        const ms = performance.now() - t0;
        record(ms);
        return ms;
      };
    },
    async time<T>(fn: () => T | Promise<T>): Promise<T> {
      const t0 = performance.now();
      const out = await fn();
      record(performance.now() - t0);
      return out;
    },
    get count() {
      return n;
    },
    summary(): LatencySummary {
      if (n === 0) throw new RangeError('no latencies recorded');
      const sorted = sortedCopy(buf.subarray(0, n));
      let sum = 0;
      for (let i = 0; i < n; i++) sum += sorted[i]!;
      return {
        count: n,
        min: sorted[0]!,
        mean: sum / n,
        p50: percentileSorted(sorted, 50),
        p90: percentileSorted(sorted, 90),
        p99: percentileSorted(sorted, 99),
        max: sorted[n - 1]!,
      };
    },
    values() {
      return buf.slice(0, n);
    },
    reset() {
      n = 0;
    },
  };
}
