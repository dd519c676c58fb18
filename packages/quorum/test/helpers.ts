import type { Signer, Validator, Verifier } from '@phalanx/interface';
import { bytesEqual, concatBytes, utf8 } from '@phalanx/codec';
import { createHmac } from 'node:crypto';

/**
 * A test-only signature scheme: the "public key" is an id-derived secret and a signature is an
 * HMAC under it. Cheap and deterministic; forging needs the key, which is all these tests need.
 */
export function testKey(id: string): Uint8Array {
  return utf8.encode(`key-of-${id}`);
}

export function testSigner(id: string): Signer {
  const key = testKey(id);
  return {
    scheme: 'ed25519',
    publicKey: key,
    sign: (m) => new Uint8Array(createHmac('sha256', key).update(m).digest()),
  };
}

export const testVerifier: Verifier = {
  verify: (pk, m, sig) => bytesEqual(new Uint8Array(createHmac('sha256', pk).update(m).digest()), sig),
};

export function validators(n: number, power = (_i: number) => 1): Validator[] {
  return Array.from({ length: n }, (_, i) => ({ id: `r${i}`, publicKey: testKey(`r${i}`), power: power(i) }));
}

export const digestA = concatBytes(new Uint8Array(31), new Uint8Array([1]));
export const digestB = concatBytes(new Uint8Array(31), new Uint8Array([2]));
