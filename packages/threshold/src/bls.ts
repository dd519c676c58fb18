/**
 * Plain and aggregate BLS signatures (min-pk, POP scheme; see suite.ts for the why).
 * Signing is always noble; verification goes through the active backend (noble or blst).
 */
import type { Rng } from '@phalanx/interface';
import { CryptoError } from '@phalanx/interface';
import { activeBackend, nobleBackend } from './backend.js';
import { randomScalar, scalarFromBytes, scalarToBytes } from './field.js';
import { decodeG1, decodeG2, encodeG1, encodeG2, encodeG2Unchecked, hashToG2, G1, G2 } from './points.js';
import type { G2Point } from './points.js';
import { DST_POP_PROOF, DST_SIG_POP } from './suite.js';

export interface BlsKeyPair {
  /** 32-byte big-endian scalar in [1, r). Keep it secret. */
  readonly secretKey: Uint8Array;
  /** 48-byte compressed G1 point. */
  readonly publicKey: Uint8Array;
}

function secretScalar(secretKey: Uint8Array): bigint {
  const s = scalarFromBytes(secretKey);
  if (s === 0n) throw new CryptoError('secret key is zero');
  return s;
}

/** A fresh key pair from the injected randomness. */
export function keygen(rng: Rng): BlsKeyPair {
  const s = randomScalar(rng);
  return { secretKey: scalarToBytes(s), publicKey: encodeG1(G1.BASE.multiply(s)) };
}

export function publicKeyOf(secretKey: Uint8Array): Uint8Array {
  return encodeG1(G1.BASE.multiply(secretScalar(secretKey)));
}

/** Signs with a scalar (also used for threshold shares). */
export function signWithScalar(s: bigint, message: Uint8Array, dst: string = DST_SIG_POP): Uint8Array {
  // H(m) is in G2 by construction, so its multiples are too: skip the re-check when encoding.
  return encodeG2Unchecked(hashToG2(message, dst).multiply(s));
}

/** σ = sk·H(m) with H the POP-suite hash to G2. 96 bytes. */
export function sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  return signWithScalar(secretScalar(secretKey), message, DST_SIG_POP);
}

/** Verifies one signature (POP suite) with the active backend. Never throws. */
export function verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  return activeBackend().verify(publicKey, message, signature, DST_SIG_POP);
}

/** PopProve (draft §3.3.2): a signature on the public key's bytes under the POP-proof DST. */
export function popProve(secretKey: Uint8Array): Uint8Array {
  const s = secretScalar(secretKey);
  return signWithScalar(s, encodeG1(G1.BASE.multiply(s)), DST_POP_PROOF);
}

/** PopVerify (draft §3.3.3). Noble: blst cannot take this DST. Never throws. */
export function popVerify(publicKey: Uint8Array, proof: Uint8Array): boolean {
  return nobleBackend.verify(publicKey, publicKey, proof, DST_POP_PROOF);
}

const brand = Symbol('pop-verified');

/**
 * A public key whose proof of possession has been checked. Only `registerPublicKey` makes one, so
 * `fastAggregateVerify` cannot be handed a key whose owner did not prove knowledge of its secret
 * (the rogue-key attack: pk' = g·x − pk_honest makes an aggregate "signed" by both).
 */
export class PopVerifiedKey {
  readonly publicKey: Uint8Array;
  private readonly [brand] = true;
  private constructor(publicKey: Uint8Array) {
    this.publicKey = publicKey;
  }
  /** @internal */
  static create(publicKey: Uint8Array): PopVerifiedKey {
    return new PopVerifiedKey(publicKey);
  }
}

/** Checks `proof` and returns the key in a form `fastAggregateVerify` accepts. Throws CryptoError. */
export function registerPublicKey(publicKey: Uint8Array, proof: Uint8Array): PopVerifiedKey {
  decodeG1(publicKey); // throws a precise CryptoError for bad encodings
  if (!popVerify(publicKey, proof)) throw new CryptoError('proof of possession does not verify for this public key');
  return PopVerifiedKey.create(Uint8Array.from(publicKey));
}

/** Sum of signatures (any messages). Throws CryptoError on an invalid or empty input. */
export function aggregateSignatures(signatures: readonly Uint8Array[]): Uint8Array {
  if (signatures.length === 0) throw new CryptoError('cannot aggregate zero signatures');
  let acc: G2Point = G2.ZERO;
  signatures.forEach((s, i) => {
    acc = acc.add(decodeG2(s, `signatures[${i}]`));
  });
  if (acc.is0()) throw new CryptoError('aggregate signature is the identity');
  return encodeG2(acc);
}

/**
 * FastAggregateVerify (draft §3.3.4): one message, many PoP-checked keys, one aggregate signature.
 * Keys that are not `PopVerifiedKey` instances are refused with a CryptoError (a caller bug or an
 * attack; never silently accepted). Returns false for a bad signature.
 */
export function fastAggregateVerify(keys: readonly PopVerifiedKey[], message: Uint8Array, signature: Uint8Array): boolean {
  for (const [i, k] of keys.entries()) {
    if (!(k instanceof PopVerifiedKey)) throw new CryptoError(`keys[${i}] has no verified proof of possession (use registerPublicKey)`);
  }
  return activeBackend().fastAggregateVerify(
    keys.map((k) => k.publicKey),
    message,
    signature,
    DST_SIG_POP,
  );
}
