import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DecodeError } from '@phalanx/interface';
import { decode, encode, EncodeError, fromHex, toHex } from '../src/index.js';
import type { Value } from '../src/index.js';

// Values of the data model: integers (number or 64-bit bigint), strings, bytes, arrays, string-keyed maps.
const leaf = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.maxSafeInteger(),
  fc.bigInt({ min: -(1n << 64n), max: (1n << 64n) - 1n }),
  fc.string(),
  fc.uint8Array({ maxLength: 64 }),
);
const value: fc.Arbitrary<Value> = fc.letrec<{ v: Value }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('v'), { maxLength: 5 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie('v'), { maxKeys: 5 }),
  ),
})).v;

/** Decoded integers come back as number when safe and bigint otherwise: compare on that basis. */
function normalise(v: Value): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) && BigInt(Number(v)) === v ? Number(v) : v;
  if (v instanceof Uint8Array) return { bytes: toHex(v) };
  if (Array.isArray(v)) return v.map(normalise);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalise(x)]));
  }
  return v;
}

const hex = (h: string): Uint8Array => fromHex(h);

describe('canonical CBOR round trip', () => {
  it('decode(encode(v)) equals v for every value of the data model', () => {
    fc.assert(
      fc.property(value, (v) => {
        expect(normalise(decode(encode(v)))).toEqual(normalise(v));
      }),
      { numRuns: 300 },
    );
  });

  it('encoding is a function of the value alone (map key order does not matter)', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 6 }), fc.integer(), { maxKeys: 8 }), (m) => {
        const reversed = Object.fromEntries(Object.entries(m).reverse());
        expect(toHex(encode(reversed))).toBe(toHex(encode(m)));
      }),
    );
  });

  it('re-encoding decoded bytes gives the same bytes', () => {
    fc.assert(
      fc.property(value, (v) => {
        const bytes = encode(v);
        expect(toHex(encode(decode(bytes)))).toBe(toHex(bytes));
      }),
      { numRuns: 200 },
    );
  });
});

describe('decode rejects every malformed input class', () => {
  const cases: Array<[string, string]> = [
    ['empty input', ''],
    ['truncated integer', '19'],
    ['truncated byte string', '4501'],
    ['trailing bytes', '0102'],
    ['non-minimal integer', '1801'],
    ['non-minimal length', '5800'],
    ['non-minimal negative integer', '3800'],
    ['float (half)', 'f93c00'],
    ['float (double)', 'fb3ff0000000000000'],
    ['undefined', 'f7'],
    ['tag', 'c11a514b67b0'],
    ['indefinite-length array', '9f01ff'],
    ['indefinite-length byte string', '5f4101ff'],
    ['unsorted map keys', 'a2616201616102'],
    ['duplicate map keys', 'a2616101616102'],
    ['non-string map key', 'a10101'],
    ['array longer than the input', '9a7fffffff'],
    ['map longer than the input', 'ba7fffffff'],
    ['lone break', 'ff'],
    ['invalid UTF-8 in a string', '62c328'],
  ];
  for (const [what, h] of cases) {
    it(what, () => {
      expect(() => decode(hex(h))).toThrow(DecodeError);
    });
  }

  it('nesting deeper than the limit, before building it', () => {
    let v: Value = 1;
    for (let i = 0; i < 40; i++) v = [v];
    expect(() => decode(encode(v))).toThrow(/nesting deeper than 32/);
    expect(() => decode(encode(v), { maxDepth: 64 })).not.toThrow();
  });

  it('input larger than maxBytes', () => {
    const bytes = encode(new Uint8Array(100));
    expect(() => decode(bytes, { maxBytes: 50 })).toThrow(/exceeds the limit/);
  });

  it('random bytes never escape as anything but DecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 64 }), (bytes) => {
        try {
          decode(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(DecodeError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('a mutated valid encoding is rejected or decodes to a value that encodes to exactly those bytes', () => {
    // Uniformly random bytes mostly die on their first byte; mutating real encodings reaches the
    // length, key-order and nesting checks deep inside a frame.
    fc.assert(
      fc.property(value, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete'), (v, at, byte, op) => {
        const good = encode(v);
        const i = at % (good.length + (op === 'insert' ? 1 : 0));
        const bytes =
          op === 'set' ? Uint8Array.from(good, (b, j) => (j === i ? byte : b))
          : op === 'insert' ? Uint8Array.from([...good.subarray(0, i), byte, ...good.subarray(i)])
          : Uint8Array.from([...good.subarray(0, i), ...good.subarray(i + 1)]);
        let decoded: Value;
        try {
          decoded = decode(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(DecodeError);
          return;
        }
        expect(toHex(encode(decoded))).toBe(toHex(bytes));
      }),
      { numRuns: 3000 },
    );
  });

  it('refuses limits that would switch a bound off', () => {
    const bytes = encode([[[1]]]);
    for (const limits of [{ maxDepth: Number.NaN }, { maxBytes: Number.NaN }, { maxDepth: 1.5 }, { maxDepth: -1 }, { maxDepth: 1e9 }, { maxBytes: Infinity }]) {
      expect(() => decode(bytes, limits)).toThrow(RangeError);
    }
    expect(decode(bytes, { maxDepth: 3, maxBytes: bytes.length })).toEqual([[[1]]]);
  });

  it('every truncation of a valid encoding is rejected', () => {
    fc.assert(
      fc.property(value, (v) => {
        const bytes = encode(v);
        for (let cut = 0; cut < bytes.length; cut++) {
          expect(() => decode(bytes.subarray(0, cut))).toThrow(DecodeError);
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe('encode refuses values outside the data model', () => {
  it.each<[string, unknown]>([
    ['a float', 1.5],
    ['NaN', Number.NaN],
    ['an unsafe integer', 2 ** 60],
    ['a 65-bit bigint', 1n << 64n],
    ['undefined', undefined],
    ['a lone high surrogate', 'a\ud800b'],
    ['a lone low surrogate', '\udc00'],
    ['a lone surrogate in a nested map key', [{ ['k\ud83d']: 1 }]],
  ])('%s', (_what, v) => {
    expect(() => encode(v as Value)).toThrow(EncodeError);
  });

  it('keeps well-formed strings, surrogate pairs included, and never maps two strings to one encoding', () => {
    expect(decode(encode('\ud83d\ude00'))).toBe('\ud83d\ude00');
    expect(decode(encode({ '\ud83d\ude00': '\ufffd' }))).toEqual({ '\ud83d\ude00': '\ufffd' });
    // Before the check, '\ud800' silently became U+FFFD: a map with both keys encoded to duplicate keys.
    expect(() => encode({ '\ud800': 1, '\ufffd': 2 })).toThrow(EncodeError);
  });
});
