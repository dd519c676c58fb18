import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encode as cborgEncode, rfc8949EncodeOptions } from 'cborg';
import { decode, encode, EncodeError } from '../src/index.js';
import type { Value } from '../src/index.js';
import { MAX_DEPTH_LIMIT } from '../src/value.js';

/**
 * The encoder the codec used before its own, kept as the oracle: cborg with RFC 8949 §4.2.1
 * options. Its output for every value of the data model must be ours byte for byte — signatures,
 * stored records and digests made with it must still check.
 */
const oracle = (v: Value): Uint8Array => cborgEncode(v, rfc8949EncodeOptions);

// Leaves at every head-size boundary (23/24, 255/256, 65535/65536, 2^32-1/2^32, 2^53, 2^64 − 1),
// both signs, text of every width (ASCII, 2-, 3- and 4-byte UTF-8), bytes short and long.
const boundary = [0, 1, 23, 24, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER];
const intLeaf = fc.oneof(
  fc.constantFrom(...boundary, ...boundary.map((n) => -n), ...boundary.map((n) => -n - 1).filter(Number.isSafeInteger), -0),
  fc.maxSafeInteger(),
  fc.constantFrom(...[0n, 23n, 24n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n, 2n ** 64n - 1n].flatMap((n) => [n, -n, -n - 1n])),
  fc.bigInt({ min: -(1n << 64n), max: (1n << 64n) - 1n }),
);
const leaf = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  intLeaf,
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }), // any code point, surrogate pairs included
  fc.string({ minLength: 20, maxLength: 300 }), // text heads of one and two bytes
  fc.uint8Array({ maxLength: 100 }), // under and over the hand-copy cut-off (64)
  fc.integer({ min: 0, max: 70_000 }).map((n) => new Uint8Array(n).fill(n & 0xff)),
);
const key = fc.oneof(fc.string({ maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 6 }));
const value: fc.Arbitrary<Value> = fc.letrec<{ v: Value }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('v'), { maxLength: 6 }),
    fc.dictionary(key, tie('v'), { maxKeys: 6 }),
  ),
})).v;

describe('encode: the same bytes as cborg with RFC 8949 §4.2.1 options', () => {
  it('for random values of the data model', () => {
    fc.assert(
      fc.property(value, (v) => {
        expect(Buffer.from(encode(v)).equals(oracle(v))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('for map keys whose encodings order differently from the strings (length first, then bytes)', () => {
    const v = { b: 1, aa: 2, a: 3, é: 4, z: 5, '': 6, ['x'.repeat(24)]: 7, ['x'.repeat(23)]: 8, '\u{1f600}': 9, '\uffff': 10 };
    expect(Buffer.from(encode(v)).equals(oracle(v))).toBe(true);
  });

  it('for maps with more distinct keys than the key cache holds, twice over', () => {
    const wide = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, i])) as Value;
    for (let i = 0; i < 3; i++) expect(Buffer.from(encode(wide)).equals(oracle(wide))).toBe(true);
    expect(Buffer.from(encode({ k1: 1, k0: 0 })).equals(oracle({ k0: 0, k1: 1 }))).toBe(true);
  });

  it('for objects without a prototype and Buffers', () => {
    const bare = Object.assign(Object.create(null) as Record<string, Value>, { k: Buffer.from('abc') });
    expect(Buffer.from(encode(bare)).equals(oracle(bare))).toBe(true);
  });

  it('for a batch the size consensus sends, and for the values encoded after it (scratch reuse)', () => {
    const batch: Value = Array.from({ length: 2000 }, (_, i) => ['c' + (i % 7), BigInt(i) * 1_000_003n, new Uint8Array(150).fill(i)]);
    expect(Buffer.from(encode(batch)).equals(oracle(batch))).toBe(true);
    // Past the scratch size kept between calls (1 MiB): the next results must not share its memory.
    const huge = new Uint8Array(3 << 20).fill(7);
    const a = encode([huge]);
    const b = encode([1, 2, 3]);
    expect(Buffer.from(a).equals(oracle([huge]))).toBe(true);
    expect(Buffer.from(b)).toEqual(Buffer.from([0x83, 1, 2, 3]));
    expect(a.buffer).not.toBe(b.buffer);
    b[1] = 9; // results are the caller's own
    expect(encode([1, 2, 3])).toEqual(new Uint8Array([0x83, 1, 2, 3]));
  });

  it('when a getter on the value encodes something else meanwhile', () => {
    const inner: Value = ['inner', 42];
    const v = {
      get a(): Value {
        return encode(inner);
      },
      b: 1,
    } as unknown as Value;
    expect(Buffer.from(encode(v)).equals(oracle({ a: oracle(inner), b: 1 }))).toBe(true);
    expect(encode(inner)).toEqual(oracle(inner)); // the shared scratch is free again
  });
});

describe('encode: what is outside the data model', () => {
  it.each<[string, unknown]>([
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity in an array', [Number.NEGATIVE_INFINITY]],
    ['an unsafe negative integer', -(2 ** 60)],
    ['a bigint below -2^64', -(1n << 64n) - 1n],
    ['undefined in a map', { a: undefined }],
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
    ['a Map', new Map([['a', 1]])],
    ['a Date', new Date(0)],
    ['a Uint16Array', new Uint16Array(2)],
    ['a class instance', new (class Point {})()],
  ])('refuses %s with EncodeError', (_what, v) => {
    expect(() => encode(v as Value)).toThrow(EncodeError);
  });

  it('refuses nesting deeper than decode can read, and accepts it up to there, counted as decode counts', () => {
    // `levels` non-empty arrays around `inner`.
    const nest = (levels: number, inner: Value): Value => {
      let v: Value = [inner];
      for (let i = 1; i < levels; i++) v = [v];
      return v;
    };
    const deepest = nest(MAX_DEPTH_LIMIT, 0);
    expect(Buffer.from(encode(deepest)).equals(oracle(deepest))).toBe(true);
    expect(decode(encode(deepest), { maxDepth: MAX_DEPTH_LIMIT })).toEqual(deepest);
    expect(() => encode(nest(MAX_DEPTH_LIMIT + 1, 0))).toThrow(/nested deeper than 1024/);
    expect(() => encode(nest(MAX_DEPTH_LIMIT, { a: 1 }))).toThrow(/nested deeper than 1024/);
    // An empty array or map opens no level, for decode as for encode.
    for (const empty of [[], {}] as Value[]) {
      const v = nest(MAX_DEPTH_LIMIT, empty);
      expect(decode(encode(v), { maxDepth: MAX_DEPTH_LIMIT })).toEqual(v);
    }
    const cyclic: Value[] = [];
    cyclic.push(cyclic);
    expect(() => encode(cyclic)).toThrow(EncodeError);
  });

  it('reports a getter or Proxy that throws as an EncodeError', () => {
    const throwing = Object.defineProperty({}, 'a', {
      enumerable: true,
      get(): never {
        throw new Error('getter failed');
      },
    }) as Value;
    expect(() => encode(throwing)).toThrow(EncodeError);
    expect(() => encode(throwing)).toThrow(/getter failed/);
    const revocable = Proxy.revocable({}, {});
    revocable.revoke();
    expect(() => encode([revocable.proxy as Value])).toThrow(EncodeError);
  });

  it('leaves the shared scratch usable after a refusal midway', () => {
    expect(() => encode([1, 2, 'ok', [3, 1.5]])).toThrow(EncodeError);
    expect(encode([1, 2])).toEqual(new Uint8Array([0x82, 1, 2]));
  });
});
