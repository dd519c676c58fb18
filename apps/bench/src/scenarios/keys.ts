/**
 * Real Ed25519 signatures for the in-process clusters, on node:crypto with cached KeyObjects (the
 * fast path DESIGN §5 measures at ~7.8k verifies/s). Keys and signatures carry the one-byte scheme
 * tag @phalanx/crypto uses (0x01 = ed25519), so cores see the same byte layout they will in
 * production. Keys are derived from a seed so runs are repeatable.
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import type { Signer, Verifier } from '@phalanx/interface';

export const ED25519_TAG = 0x01;
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function ed25519Signer(seed: Uint8Array): Signer {
  if (seed.length !== 32) throw new RangeError('ed25519 seed must be 32 bytes');
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  const publicKey = new Uint8Array(33);
  publicKey[0] = ED25519_TAG;
  publicKey.set(spki.subarray(spki.length - 32), 1);
  return {
    scheme: 'ed25519',
    publicKey,
    sign(message: Uint8Array): Uint8Array {
      const sig = sign(null, message, key);
      const out = new Uint8Array(65);
      out[0] = ED25519_TAG;
      out.set(sig, 1);
      return out;
    },
  };
}

/** Verifier with a KeyObject cache keyed by the raw public key. Never throws on bad input. */
export function ed25519Verifier(): Verifier & { readonly verifications: number } {
  const cache = new Map<string, KeyObject>();
  let count = 0;
  return {
    get verifications() {
      return count;
    },
    verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
      count++;
      if (publicKey.length !== 33 || publicKey[0] !== ED25519_TAG) return false;
      if (signature.length !== 65 || signature[0] !== ED25519_TAG) return false;
      const id = Buffer.from(publicKey.buffer, publicKey.byteOffset + 1, 32).toString('hex');
      let key = cache.get(id);
      try {
        if (!key) {
          key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey.subarray(1)]), format: 'der', type: 'spki' });
          cache.set(id, key);
        }
        return verify(null, message, key, signature.subarray(1));
      } catch {
        return false;
      }
    },
  };
}

/** Deterministic 32-byte seed for replica `i` of a run. */
export function replicaSeed(runSeed: number, i: number): Uint8Array {
  return new Uint8Array(createHash('sha256').update(`phalanx-bench/${runSeed}/${i}`).digest());
}
