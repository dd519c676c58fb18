/**
 * Real signatures for the in-process clusters, from @phalanx/crypto: the same signers and the same
 * verifier (native Ed25519 with the project's strict acceptance rule, DESIGN §5) replicas use in
 * production, so the benchmark pays exactly the verification cost a deployment pays. Keys are
 * derived from a seed so runs are repeatable.
 */
import { createHash } from 'node:crypto';
import { createVerifier, generateKeyPair, signerFromSecret } from '@phalanx/crypto';
import type { SupportedScheme } from '@phalanx/crypto';
import type { Signer, Verifier } from '@phalanx/interface';

/** Seed length per scheme (the hybrid takes an Ed25519 seed then an ML-DSA seed). */
const SEED_BYTES: Readonly<Record<SupportedScheme, number>> = {
  ed25519: 32,
  'ml-dsa-44': 32,
  'ml-dsa-65': 32,
  'hybrid-ed25519-ml-dsa-44': 64,
};

export function replicaSigner(scheme: SupportedScheme, seed: Uint8Array): Signer {
  const kp = generateKeyPair(scheme, { seed: seed.subarray(0, SEED_BYTES[scheme]) });
  return signerFromSecret(kp.secretKey, scheme);
}

/** The production verifier (native Ed25519 path) with a call counter. Never throws on bad input. */
export function replicaVerifier(): Verifier & { readonly verifications: number } {
  const inner = createVerifier();
  let count = 0;
  return {
    get verifications() {
      return count;
    },
    verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
      count++;
      return inner.verify(publicKey, message, signature);
    },
  };
}

/** Deterministic 64-byte seed material for replica `i` of a run. */
export function replicaSeed(runSeed: number, i: number): Uint8Array {
  return new Uint8Array(createHash('sha512').update(`phalanx-bench/${runSeed}/${i}`).digest());
}
