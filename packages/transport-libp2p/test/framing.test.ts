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

  it('never hands out a frame that pins more than twice its size, and big frames without a copy', () => {
    const got: Uint8Array[] = [];
    const r = new FrameReader(1 << 20, (f) => got.push(f), () => undefined);
    // One 64 KiB chunk: a 10-byte frame, then most of a big frame that ends in the next chunk.
    const small = new Uint8Array(10).fill(1);
    const big = new Uint8Array(100_000).fill(2);
    const bytes = encodeFrames([small, big]);
    const chunk = bytes.slice(0, 65_536);
    r.push(chunk);
    r.push(bytes.slice(65_536));
    expect(got.map((f) => f.length)).toEqual([10, 100_000]);
    expect(got[0]!.buffer.byteLength).toBeLessThanOrEqual(20);
    // A frame that is nearly all of its chunk is a view into it, not a copy.
    const whole = encodeFrames([big]);
    const views: Uint8Array[] = [];
    new FrameReader(1 << 20, (f) => views.push(f), () => undefined).push(whole);
    expect(views[0]!.buffer).toBe(whole.buffer);
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
