import { describe, it, expect, afterEach } from 'vitest';
import { measure, measureAsync } from '../src/measure.js';
import { quick, sized, QUICK_ENV } from '../src/env.js';

// No timing assertions: these check counting and option handling, never speed.
describe('measure', () => {
  it('counts every timed call in whole batches and reports consistent figures', () => {
    let calls = 0;
    const m = measure(() => calls++, { minTimeMs: 5, warmupMs: 0, batch: 7 });
    expect(m.batch).toBe(7);
    expect(m.ops % 7).toBe(0);
    expect(m.ops).toBeGreaterThan(0);
    expect(calls).toBeGreaterThanOrEqual(m.ops); // warm-up calls are not counted
    expect(m.opsPerSec).toBeCloseTo((m.ops / m.elapsedMs) * 1000, 6);
    expect(m.samples.count).toBe(m.ops / 7);
  });

  it('passes a running index and honours maxSamples and opsPerCall', () => {
    const seen: number[] = [];
    const m = measure((i) => seen.push(i), { minTimeMs: 10_000, warmupMs: 0, batch: 3, maxSamples: 2, opsPerCall: 10 });
    expect(m.samples.count).toBe(2);
    expect(m.ops).toBe(60);
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]); // one warm-up batch, then two samples
  });

  it('calibrates a batch when none is given', () => {
    const m = measure(() => Math.sqrt(2), { minTimeMs: 1, warmupMs: 0 });
    expect(m.batch).toBeGreaterThan(1);
    expect(Number.isInteger(Math.log2(m.batch))).toBe(true);
  });

  it('rejects bad options', () => {
    expect(() => measure(() => 0, { batch: 0 })).toThrow(/batch/);
    expect(() => measure(() => 0, { batch: 1.5 })).toThrow(/batch/);
    expect(() => measure(() => 0, { minTimeMs: -1 })).toThrow(/minTimeMs/);
    expect(() => measure(() => 0, { opsPerCall: 0 })).toThrow(/opsPerCall/);
  });

  it('measureAsync awaits each call', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const m = await measureAsync(
      async () => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await Promise.resolve();
        inFlight--;
      },
      { minTimeMs: 2, warmupMs: 0, batch: 4 },
    );
    expect(maxInFlight).toBe(1);
    expect(m.ops % 4).toBe(0);
  });
});

describe('quick mode flag', () => {
  const saved = process.env[QUICK_ENV];
  afterEach(() => {
    if (saved === undefined) delete process.env[QUICK_ENV];
    else process.env[QUICK_ENV] = saved;
  });

  it('is on for 1/true/yes and off otherwise', () => {
    for (const v of ['1', 'true', 'TRUE', ' yes ']) expect(quick({ [QUICK_ENV]: v })).toBe(true);
    for (const v of [undefined, '', '0', 'false', 'no', '2']) expect(quick({ [QUICK_ENV]: v })).toBe(false);
  });

  it('reads process.env by default and picks sizes accordingly', () => {
    process.env[QUICK_ENV] = '1';
    expect(quick()).toBe(true);
    expect(sized(10, 1000)).toBe(10);
    process.env[QUICK_ENV] = '0';
    expect(sized(10, 1000)).toBe(1000);
  });
});
