import { performance } from 'node:perf_hooks';
import { quick } from './env.js';
import { sampleStats, percentileSorted, sortedCopy, type SampleStats } from './stats.js';

export interface MeasureOptions {
  /** Time spent sampling after warm-up. Default 1000 ms (200 ms in quick mode). */
  readonly minTimeMs?: number;
  /** Time spent running `fn` before sampling, so the JIT settles. Default 250 ms (30 ms in quick mode). */
  readonly warmupMs?: number;
  /**
   * Calls per sample. One sample times `batch` back-to-back calls, which keeps timer overhead out
   * of fast functions. Default: calibrated during warm-up so that a sample takes about 5 ms.
   */
  readonly batch?: number;
  /** Stop after this many samples even if `minTimeMs` has not passed. Default unlimited. */
  readonly maxSamples?: number;
  /** Ops per call, when one call does several operations (e.g. verifies a batch of 64). Default 1. */
  readonly opsPerCall?: number;
}

export interface Measurement {
  /** Total operations divided by total sampled time. */
  readonly opsPerSec: number;
  /** Mean time per operation, in milliseconds. */
  readonly msPerOp: number;
  /** Operations timed (excluding warm-up). */
  readonly ops: number;
  readonly elapsedMs: number;
  readonly batch: number;
  /** Statistics over the per-sample ops/s figures. */
  readonly samples: SampleStats & { readonly p50: number };
}

/** Keeps results reachable so the JIT cannot drop the measured work as dead code. */
let sink: unknown;
/** The last value the measured function returned (also keeps `sink` observably used). */
export function lastResult(): unknown {
  return sink;
}

interface Resolved {
  minTimeMs: number;
  warmupMs: number;
  batch: number | undefined;
  maxSamples: number;
  opsPerCall: number;
}

function resolve(opts: MeasureOptions): Resolved {
  const q = quick();
  const r: Resolved = {
    minTimeMs: opts.minTimeMs ?? (q ? 200 : 1000),
    warmupMs: opts.warmupMs ?? (q ? 30 : 250),
    batch: opts.batch,
    maxSamples: opts.maxSamples ?? Number.POSITIVE_INFINITY,
    opsPerCall: opts.opsPerCall ?? 1,
  };
  if (!(r.minTimeMs >= 0)) throw new RangeError(`minTimeMs must be >= 0, got ${r.minTimeMs}`);
  if (!(r.warmupMs >= 0)) throw new RangeError(`warmupMs must be >= 0, got ${r.warmupMs}`);
  if (r.batch !== undefined && !(Number.isInteger(r.batch) && r.batch >= 1)) {
    throw new RangeError(`batch must be a positive integer, got ${r.batch}`);
  }
  if (!(r.maxSamples >= 1)) throw new RangeError(`maxSamples must be >= 1, got ${r.maxSamples}`);
  if (!(r.opsPerCall > 0)) throw new RangeError(`opsPerCall must be > 0, got ${r.opsPerCall}`);
  return r;
}

const TARGET_SAMPLE_MS = 5;
const MAX_BATCH = 1 << 24;

function finish(r: Resolved, batch: number, perSample: number[], totalMs: number, calls: number): Measurement {
  const ops = calls * r.opsPerCall;
  const sorted = sortedCopy(perSample);
  const opsPerSec = totalMs > 0 ? (ops / totalMs) * 1000 : Number.POSITIVE_INFINITY;
  return {
    opsPerSec,
    msPerOp: ops > 0 ? totalMs / ops : 0,
    ops,
    elapsedMs: totalMs,
    batch,
    samples: { ...sampleStats(perSample), p50: percentileSorted(sorted, 50) },
  };
}

/**
 * Measures a synchronous function's throughput. `fn(i)` receives a running call index (handy to
 * pick inputs round-robin). Returns ops/s over the whole sampling window plus per-sample stats.
 */
export function measure(fn: (i: number) => unknown, opts: MeasureOptions = {}): Measurement {
  const r = resolve(opts);
  let i = 0;
  const runBatch = (b: number): number => {
    const t0 = performance.now();
    for (let k = 0; k < b; k++) sink = fn(i++);
    return performance.now() - t0;
  };
  let batch = r.batch ?? 1;
  const warmEnd = performance.now() + r.warmupMs;
  let calibrated = r.batch !== undefined;
  do {
    const ms = runBatch(batch);
    if (!calibrated) {
      if (ms < TARGET_SAMPLE_MS && batch < MAX_BATCH) batch *= 2;
      else calibrated = true;
    }
  } while (performance.now() < warmEnd || !calibrated);
  const perSample: number[] = [];
  let total = 0;
  let calls = 0;
  while ((total < r.minTimeMs || perSample.length === 0) && perSample.length < r.maxSamples) {
    const ms = runBatch(batch);
    total += ms;
    calls += batch;
    perSample.push(ms > 0 ? ((batch * r.opsPerCall) / ms) * 1000 : Number.POSITIVE_INFINITY);
  }
  return finish(r, batch, perSample, total, calls);
}

/** Like `measure`, for a function returning a promise; calls within a batch run one after another. */
export async function measureAsync(fn: (i: number) => Promise<unknown>, opts: MeasureOptions = {}): Promise<Measurement> {
  const r = resolve(opts);
  let i = 0;
  const runBatch = async (b: number): Promise<number> => {
    const t0 = performance.now();
    for (let k = 0; k < b; k++) sink = await fn(i++);
    return performance.now() - t0;
  };
  let batch = r.batch ?? 1;
  const warmEnd = performance.now() + r.warmupMs;
  let calibrated = r.batch !== undefined;
  do {
    const ms = await runBatch(batch);
    if (!calibrated) {
      if (ms < TARGET_SAMPLE_MS && batch < MAX_BATCH) batch *= 2;
      else calibrated = true;
    }
  } while (performance.now() < warmEnd || !calibrated);
  const perSample: number[] = [];
  let total = 0;
  let calls = 0;
  while ((total < r.minTimeMs || perSample.length === 0) && perSample.length < r.maxSamples) {
    const ms = await runBatch(batch);
    total += ms;
    calls += batch;
    perSample.push(ms > 0 ? ((batch * r.opsPerCall) / ms) * 1000 : Number.POSITIVE_INFINITY);
  }
  return finish(r, batch, perSample, total, calls);
}
