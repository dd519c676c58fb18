import { describe, expect, it } from 'vitest';
import { DecodeError } from '@phalanx/interface';
import { decode, encode, readArray, readBytes, readMap, readString, readU64, readUint, u64Of, signingBytes, utf8, fromHex, compareBytes, concatBytes } from '../src/index.js';

describe('typed readers name the path of what is wrong', () => {
  const msg = decode(encode({ seq: 5, digest: new Uint8Array(32), batch: [1, 2, 3], who: 'r1' }));
  const m = readMap(msg, 'msg');

  it('read what is there', () => {
    expect(readU64(m.seq, 'msg.seq')).toBe(5n);
    expect(readBytes(m.digest, 'msg.digest', { exact: 32 }).length).toBe(32);
    expect(readArray(m.batch, 'msg.batch', 3)).toHaveLength(3);
    expect(readString(m.who, 'msg.who')).toBe('r1');
  });

  it('reject a wrong type, size or field with the path in the message', () => {
    expect(() => readString(m.seq, 'msg.seq')).toThrow(new DecodeError('msg.seq: expected string, got number'));
    expect(() => readBytes(m.digest, 'msg.digest', { exact: 20 })).toThrow(/msg.digest: expected 20 bytes/);
    expect(() => readArray(m.batch, 'msg.batch', 2)).toThrow(/msg.batch: 3 items exceed the limit of 2/);
    expect(() => readMap(msg, 'msg', ['seq'])).toThrow(/unexpected field/);
    expect(() => readU64(-1, 'x')).toThrow(DecodeError);
    // u64Of: the same range in both decoded forms, undefined outside it
    expect([0, 2 ** 53 - 1, 0n, 2n ** 64n - 1n].map((v) => u64Of(v))).toEqual([0n, 2n ** 53n - 1n, 0n, 2n ** 64n - 1n]);
    expect([-1, 1.5, 2 ** 53, -1n, 2n ** 64n, '1', null, undefined].map((v) => u64Of(v))).toEqual(new Array(8).fill(undefined));
    expect(() => readUint(7, 'x', 6)).toThrow(/exceeds 6/);
    expect(() => readMap([1], 'msg')).toThrow(/expected map, got array/);
  });
});

describe('byte helpers', () => {
  it('signing bytes separate domains and chains', () => {
    const a = signingBytes('phalanx/test/v1', 'chain-a', [1]);
    expect(compareBytes(a, signingBytes('phalanx/test/v1', 'chain-b', [1]))).not.toBe(0);
    expect(compareBytes(a, signingBytes('phalanx/other/v1', 'chain-a', [1]))).not.toBe(0);
    expect(compareBytes(a, signingBytes('phalanx/test/v1', 'chain-a', [1]))).toBe(0);
  });

  it('hex, utf8 and concat', () => {
    expect(() => fromHex('abc')).toThrow(DecodeError);
    expect(() => fromHex('zz')).toThrow(DecodeError);
    expect(() => utf8.decode(new Uint8Array([0xc3, 0x28]))).toThrow(DecodeError);
    expect([...concatBytes(new Uint8Array([1]), new Uint8Array([2, 3]))]).toEqual([1, 2, 3]);
  });
});
