/**
 * ML-KEM (FIPS 203) key encapsulation on @noble/post-quantum, for transports that want a
 * post-quantum session key. Wrong lengths throw CryptoError; decapsulation of a well-formed but
 * wrong ciphertext returns the implicit-rejection secret (as FIPS 203 requires), never an error.
 */
import { ml_kem512, ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { CryptoError } from '@phalanx/interface';

export type KemScheme = 'ml-kem-512' | 'ml-kem-768';

export interface KemKeyPair {
  readonly scheme: KemScheme;
  /** Encapsulation key (ek). */
  readonly publicKey: Uint8Array;
  /** Decapsulation key (dk), FIPS 203 expanded form. */
  readonly secretKey: Uint8Array;
}

function kem(scheme: KemScheme) {
  if (scheme === 'ml-kem-512') return ml_kem512;
  if (scheme === 'ml-kem-768') return ml_kem768;
  throw new CryptoError(`unknown KEM scheme ${JSON.stringify(scheme)}`);
}

function check(scheme: KemScheme, what: string, bytes: Uint8Array, want: number | undefined): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== want) {
    throw new CryptoError(`${scheme} ${what} must be ${want} bytes, got ${bytes instanceof Uint8Array ? bytes.length : typeof bytes}`);
  }
}

/** Key pair, deterministic from a 64-byte seed (d || z) when given, else random. */
export function kemKeygen(scheme: KemScheme, seed?: Uint8Array): KemKeyPair {
  const k = kem(scheme);
  if (seed !== undefined) check(scheme, 'seed', seed, k.lengths.seed);
  const { publicKey, secretKey } = k.keygen(seed === undefined ? undefined : seed.slice());
  return { scheme, publicKey, secretKey };
}

/** Encapsulates a fresh shared secret to `publicKey`; `randomness` (32 bytes) makes it deterministic for tests. */
export function kemEncapsulate(scheme: KemScheme, publicKey: Uint8Array, randomness?: Uint8Array): { cipherText: Uint8Array; sharedSecret: Uint8Array } {
  const k = kem(scheme);
  check(scheme, 'public key', publicKey, k.lengths.publicKey);
  if (randomness !== undefined) check(scheme, 'randomness', randomness, k.lengths.msg);
  try {
    return k.encapsulate(publicKey, randomness === undefined ? undefined : randomness.slice());
  } catch (err) {
    // FIPS 203 §7.2 modulus check: a key with a coefficient ≥ q is refused.
    throw new CryptoError(`${scheme} public key is invalid: ${(err as Error).message}`, { cause: err });
  }
}

export function kemDecapsulate(scheme: KemScheme, cipherText: Uint8Array, secretKey: Uint8Array): Uint8Array {
  const k = kem(scheme);
  check(scheme, 'ciphertext', cipherText, k.lengths.cipherText);
  check(scheme, 'secret key', secretKey, k.lengths.secretKey);
  try {
    // noble wipes the secret key it is given; pass a copy so the caller's key survives.
    return k.decapsulate(cipherText, secretKey.slice());
  } catch (err) {
    throw new CryptoError(`${scheme} secret key is invalid: ${(err as Error).message}`, { cause: err });
  }
}
