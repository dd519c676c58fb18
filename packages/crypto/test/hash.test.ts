import { describe, expect, it } from 'vitest';
import { CryptoError } from '@phalanx/interface';
import { blake3Noble, createHasher, digest, sha256Native, sha256Noble } from '../src/hash.js';
import type { HashAlgorithm } from '../src/hash.js';
import { testBytes } from './helpers.js';

const h = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('hashing', () => {
  it('SHA-256 known answers (FIPS 180-4 examples) on both paths', () => {
    for (const hasher of [sha256Native, sha256Noble]) {
      expect(h(hasher.digest(ascii('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
      expect(h(hasher.digest(new Uint8Array(0)))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
      expect(hasher.algorithm).toBe('sha256');
    }
  });

  it('native and noble SHA-256 agree on many lengths, including block boundaries and 1 MiB', () => {
    const lengths = [1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 1000, 1024, 4097, 65536, 1 << 20];
    for (const [i, n] of lengths.entries()) {
      const data = testBytes(i + 1, n);
      expect(h(sha256Native.digest(data)), `length ${n}`).toBe(h(sha256Noble.digest(data)));
    }
    // A subarray view must hash only its own bytes.
    const big = testBytes(77, 100);
    expect(sha256Native.digest(big.subarray(10, 20))).toEqual(sha256Noble.digest(big.slice(10, 20)));
  });

  it('BLAKE3 known answer and naming', () => {
    expect(h(blake3Noble.digest(new Uint8Array(0)))).toBe('af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262');
    expect(blake3Noble.algorithm).toBe('blake3');
    expect(digest('blake3', ascii('x'))).toEqual(blake3Noble.digest(ascii('x')));
    expect(digest('blake3', ascii('x'))).not.toEqual(digest('sha256', ascii('x')));
  });

  it('createHasher picks implementations and refuses unknown names', () => {
    expect(createHasher('sha256')).toBe(sha256Native);
    expect(createHasher('sha256', 'noble')).toBe(sha256Noble);
    expect(createHasher('blake3', 'noble')).toBe(blake3Noble);
    expect(() => createHasher('blake3')).toThrow(/no native BLAKE3/);
    expect(() => createHasher('md5' as HashAlgorithm)).toThrow(CryptoError);
  });
});
