import { describe, it, expect } from 'vitest';
import { silentLogger } from '@phalanx/interface';
import type { Logger } from '@phalanx/interface';
import { FrameReader, encodeFrames } from '../src/index.js';
import { Counters } from '../src/queues.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe('FrameReader', () => {
  it('reassembles frames however the bytes are split, skipping oversized ones', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const rnd = lcg(seed);
      const frames = Array.from({ length: 30 }, (_, i) => new Uint8Array(Math.floor(rnd() * 300)).fill(i));
      const bytes = encodeFrames(frames);
      const got: Uint8Array[] = [];
      const drops: string[] = [];
      const r = new FrameReader(200, (f) => got.push(f.slice()), (why) => drops.push(why));
      for (let off = 0; off < bytes.length; ) {
        const n = 1 + Math.floor(rnd() * 64);
        r.push(bytes.subarray(off, off + n));
        off += n;
      }
      r.end();
      const expected = frames.filter((f) => f.length <= 200);
      expect(got).toEqual(expected);
      expect(drops).toEqual(frames.filter((f) => f.length > 200).map(() => 'oversized'));
    }
  });

  it('counts a truncated frame when the stream ends', () => {
    const drops: string[] = [];
    const r = new FrameReader(100, () => undefined, (why) => drops.push(why));
    r.push(encodeFrames([new Uint8Array(10)]).subarray(0, 8));
    r.end();
    expect(drops).toEqual(['malformed']);
  });
});

describe('drop accounting', () => {
  it('counts every drop but logs a (peer, reason) at most once per interval', () => {
    const lines: object[] = [];
    const logger: Logger = { ...silentLogger, warn: (o) => void lines.push(o), child: () => logger };
    const c = new Counters(logger, 60_000);
    for (let i = 0; i < 100; i++) c.drop('r1', 'oversized');
    c.drop('r1', 'malformed');
    c.drop('r2', 'oversized');
    expect(c.snapshot().dropped).toEqual({ r1: { oversized: 100, malformed: 1 }, r2: { oversized: 1 } });
    expect(lines.length).toBe(3);
  });
});
