import { describe, it, expect } from 'vitest';
import { percentile, percentileSorted, sampleStats } from '../src/stats.js';
import { latencyRecorder } from '../src/latency.js';

describe('percentile (nearest rank)', () => {
  const oneToHundred = Array.from({ length: 100 }, (_, i) => i + 1);

  it('picks the value at rank ceil(p/100 * n)', () => {
    expect(percentile(oneToHundred, 50)).toBe(50);
    expect(percentile(oneToHundred, 90)).toBe(90);
    expect(percentile(oneToHundred, 99)).toBe(99);
    expect(percentile(oneToHundred, 100)).toBe(100);
    expect(percentile(oneToHundred, 0)).toBe(1);
    expect(percentile(oneToHundred, 99.5)).toBe(100);
  });

  it('sorts unsorted input numerically, not lexically', () => {
    expect(percentile([10, 9, 100, 2, 1], 50)).toBe(9);
    expect(percentile([10, 9, 100, 2, 1], 100)).toBe(100);
  });

  it('returns a value that was observed, never an interpolation', () => {
    expect(percentile([1, 1000], 50)).toBe(1);
    expect(percentile([1, 1000], 51)).toBe(1000);
    expect(percentile([7], 99)).toBe(7);
  });

  it('rejects empty input and p outside [0, 100]', () => {
    expect(() => percentile([], 50)).toThrow(RangeError);
    expect(() => percentileSorted([1], 101)).toThrow(/within \[0, 100\]/);
    expect(() => percentileSorted([1], Number.NaN)).toThrow(RangeError);
  });
});

describe('sampleStats', () => {
  it('computes mean, sample stddev and margin of error', () => {
    const s = sampleStats([2, 4, 4, 4, 5, 5, 7, 9]);
    expect(s.mean).toBe(5);
    expect(s.min).toBe(2);
    expect(s.max).toBe(9);
    expect(s.stddev).toBeCloseTo(Math.sqrt(32 / 7), 12);
    // t(7) = 2.365 at 95 %
    expect(s.rme).toBeCloseTo(((2.365 * Math.sqrt(32 / 7)) / Math.sqrt(8) / 5) * 100, 9);
  });
  it('gives zero spread for one sample and throws on none', () => {
    expect(sampleStats([3])).toMatchObject({ count: 1, stddev: 0, rme: 0, mean: 3 });
    expect(() => sampleStats([])).toThrow(RangeError);
  });
});

describe('latencyRecorder', () => {
  it('summarises recorded latencies past its initial capacity', () => {
    const rec = latencyRecorder(16);
    for (let i = 1000; i >= 1; i--) rec.record(i / 10);
    const s = rec.summary();
    expect(s).toEqual({ count: 1000, min: 0.1, mean: 50.05, p50: 50, p90: 90, p99: 99, max: 100 });
    expect(rec.values()[0]).toBe(100);
  });
  it('times sync and async work and rejects bad values', async () => {
    const rec = latencyRecorder();
    const stop = rec.start();
    expect(stop()).toBeGreaterThanOrEqual(0);
    await expect(rec.time(async () => 42)).resolves.toBe(42);
    expect(rec.count).toBe(2);
    expect(() => rec.record(-1)).toThrow(RangeError);
    expect(() => rec.record(Number.POSITIVE_INFINITY)).toThrow(RangeError);
    rec.reset();
    expect(rec.count).toBe(0);
    expect(() => rec.summary()).toThrow(/no latencies/);
  });
});
