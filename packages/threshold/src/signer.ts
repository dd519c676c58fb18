/**
 * The shared `Signer` / `Verifier` contracts for BLS keys, in the scheme-tagged byte format of
 * @phalanx/crypto (one leading byte names the scheme; 0x05 is reserved there for bls12-381), so a
 * BLS validator key can sit in a `ValidatorSet` beside Ed25519 ones and never be read as another
 * scheme's bytes.
 */
import type { Signer, Verifier } from '@phalanx/interface';
import { CryptoError } from '@phalanx/interface';
import { publicKeyOf, sign, verify } from './bls.js';
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from './points.js';

export const BLS_SCHEME_TAG = 0x05;

function tag(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + 1);
  out[0] = BLS_SCHEME_TAG;
  out.set(bytes, 1);
  return out;
}

/** Strips the scheme tag; undefined when the bytes are not a tagged BLS value of `size` bytes. */
export function untagBls(bytes: Uint8Array, size: number): Uint8Array | undefined {
  if (bytes.length !== size + 1 || bytes[0] !== BLS_SCHEME_TAG) return undefined;
  return bytes.subarray(1);
}

/** Tagged public key bytes (0x05 ‖ 48-byte compressed G1 point). */
export function tagBlsPublicKey(publicKey: Uint8Array): Uint8Array {
  if (publicKey.length !== PUBLIC_KEY_BYTES) throw new CryptoError(`BLS public key must be ${PUBLIC_KEY_BYTES} bytes`);
  return tag(publicKey);
}

/** A `Signer` over a BLS secret key (POP suite). Signatures are 0x05 ‖ 96 bytes. */
export function blsSigner(secretKey: Uint8Array): Signer {
  const sk = Uint8Array.from(secretKey);
  const publicKey = tag(publicKeyOf(sk));
  return {
    scheme: 'bls12-381',
    publicKey,
    sign: (message) => tag(sign(sk, message)),
  };
}

/** A `Verifier` for tagged BLS keys and signatures, on the active backend. Never throws. */
export const blsVerifier: Verifier = {
  verify(publicKey, message, signature) {
    const pk = untagBls(publicKey, PUBLIC_KEY_BYTES);
    const sig = untagBls(signature, SIGNATURE_BYTES);
    if (pk === undefined || sig === undefined) return false;
    return verify(pk, message, sig);
  },
};
