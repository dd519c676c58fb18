import { describe, expect, it } from 'vitest';
import { CryptoError } from '@phalanx/interface';
import { kemDecapsulate, kemEncapsulate, kemKeygen } from '../src/kem.js';
import type { KemScheme } from '../src/kem.js';
import { hex, testBytes, wycheproof } from './helpers.js';

interface KemVector { tcId: number; comment?: string; seed: string; ek?: string; c: string; K: string; result: 'valid' | 'invalid' }
interface KemFile { testGroups: { parameterSet: string; tests: KemVector[] }[] }

/**
 * Each vector: ML-KEM.KeyGen from a 64-byte seed must give `ek`; ML-KEM.Decaps(dk, c) must give K
 * (valid vectors include random and bit-flipped ciphertexts, where K is the implicit-rejection
 * secret). Invalid vectors have a seed or ciphertext of the wrong length: we must refuse them.
 */
function runVector(scheme: KemScheme, t: KemVector): boolean {
  try {
    const kp = kemKeygen(scheme, hex(t.seed));
    if (t.ek !== undefined && Buffer.compare(Buffer.from(kp.publicKey), Buffer.from(hex(t.ek))) !== 0) return false;
    const k = kemDecapsulate(scheme, hex(t.c), kp.secretKey);
    return Buffer.from(k).toString('hex') === t.K;
  } catch (err) {
    expect(err).toBeInstanceOf(CryptoError);
    return false;
  }
}

describe.each([
  ['ml-kem-512', 'mlkem_512_test.json'],
  ['ml-kem-768', 'mlkem_768_test.json'],
] as const)('%s', (scheme, file) => {
  const tests = wycheproof<KemFile>(file).testGroups.flatMap((g) => g.tests);

  it('matches every Wycheproof vector (keygen from seed, decapsulation, length errors)', () => {
    expect(tests.length).toBe(193);
    const wrong = tests.filter((t) => runVector(scheme, t) !== (t.result === 'valid'));
    expect(wrong.map((t) => `${t.tcId} ${t.comment ?? ''}`)).toEqual([]);
  });

  it('round-trips encapsulate/decapsulate and keeps the caller’s secret key intact', () => {
    const kp = kemKeygen(scheme, testBytes(7, 64));
    const sk = Uint8Array.from(kp.secretKey);
    const { cipherText, sharedSecret } = kemEncapsulate(scheme, kp.publicKey, testBytes(8, 32));
    expect(kemDecapsulate(scheme, cipherText, kp.secretKey)).toEqual(sharedSecret);
    expect(kp.secretKey).toEqual(sk);
    const flipped = Uint8Array.from(cipherText);
    flipped[0]! ^= 1;
    expect(kemDecapsulate(scheme, flipped, kp.secretKey)).not.toEqual(sharedSecret);
  });

  it('throws CryptoError on wrong lengths', () => {
    const kp = kemKeygen(scheme);
    expect(() => kemEncapsulate(scheme, kp.publicKey.subarray(1))).toThrow(CryptoError);
    expect(() => kemDecapsulate(scheme, new Uint8Array(5), kp.secretKey)).toThrow(/ciphertext/);
    expect(() => kemKeygen(scheme, new Uint8Array(32))).toThrow(/seed/);
    // A peer's encapsulation key with coefficients ≥ q fails the FIPS 203 modulus check.
    const bad = Uint8Array.from(kp.publicKey);
    bad.fill(0xff, 0, 384);
    expect(() => kemEncapsulate(scheme, bad)).toThrow(/public key is invalid/);
  });
});
