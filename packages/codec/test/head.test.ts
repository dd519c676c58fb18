import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encode, headLength, readHead, toHex, writeHead } from '../src/index.js';

/** Arguments around every head-size boundary, and anywhere up to 2^32 − 1. */
const arg = fc.oneof(fc.constantFrom(0, 23, 24, 255, 256, 65_535, 65_536, 2 ** 32 - 1), fc.nat({ max: 2 ** 32 - 1 }));

function written(major: number, n: number): Uint8Array {
  const out = new Uint8Array(headLength(n));
  expect(writeHead(out, 0, major, n)).toBe(out.length);
  return out;
}

describe('canonical CBOR heads', () => {
  it('write the same bytes as the encoder, for byte strings and arrays', () => {
    for (const n of [0, 1, 23, 24, 255, 256, 1000, 65_535, 65_536, 70_000]) {
      expect(toHex(written(2, n))).toBe(toHex(encode(new Uint8Array(n)).subarray(0, headLength(n))));
      expect(toHex(written(4, n))).toBe(toHex(encode(new Array<null>(n).fill(null)).subarray(0, headLength(n))));
    }
  });

  it('read back what they write, and nothing of another major type', () => {
    fc.assert(
      fc.property(arg, fc.integer({ min: 0, max: 7 }), (n, major) => {
        const b = written(major, n);
        expect(readHead(b, 0, major)).toEqual([n, b.length]);
        expect(readHead(b, 0, (major + 1) % 8)).toBeUndefined();
        expect(readHead(b.subarray(0, b.length - 1), 0, major)).toBeUndefined(); // truncated
      }),
    );
  });

  it('refuse a head longer than needed (the decoder would)', () => {
    expect(readHead(Uint8Array.of(0x58, 23), 0, 2)).toBeUndefined();
    expect(readHead(Uint8Array.of(0x59, 0x00, 0xff), 0, 2)).toBeUndefined();
    expect(readHead(Uint8Array.of(0x5a, 0x00, 0x00, 0xff, 0xff), 0, 2)).toBeUndefined();
    expect(readHead(Uint8Array.of(0x58, 24), 0, 2)).toEqual([24, 2]);
  });
});
