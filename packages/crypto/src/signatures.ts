/**
 * One Signer/Verifier over every scheme this package supports. The scheme travels in the first
 * byte of every key and signature (see schemes.ts): producing or parsing keys under the wrong
 * scheme throws CryptoError; `verify` never throws and returns false instead, because a
 * Byzantine peer controls all of its arguments.
 */
import { randomBytes } from 'node:crypto';
import { ml_dsa44, ml_dsa65 } from '@noble/post-quantum/ml-dsa.js';
import { concatBytes, utf8 } from '@phalanx/codec';
import { CryptoError } from '@phalanx/interface';
import type { Rng, SignatureScheme, Signer, Verifier } from '@phalanx/interface';
import {
  ed25519KeyFromSeed,
  ed25519PublicKeyFromSeed,
  ed25519VerifyNative,
  ed25519VerifyNoble,
  validateEd25519PublicKey,
} from './ed25519.js';
import type { Ed25519Backend } from './ed25519.js';
import { ED25519_SIZES, SCHEME_SIZES, isSupportedScheme, schemeOfTag, tagged, untag } from './schemes.js';
import type { SupportedScheme } from './schemes.js';

/**
 * Domain tag for the two halves of a hybrid signature. The Ed25519 half signs DOMAIN || 0x00 || M
 * and the ML-DSA half signs M under FIPS 204 context DOMAIN, so neither half is a valid plain
 * Ed25519 or ML-DSA-44 signature over M: a half cannot be stripped and replayed as the other scheme.
 */
const HYBRID_DOMAIN = utf8.encode('phalanx/hybrid-ed25519-ml-dsa-44/v1');
const HYBRID_ED_PREFIX = concatBytes(HYBRID_DOMAIN, new Uint8Array([0]));

export interface KeyPair {
  readonly scheme: SupportedScheme;
  /** Scheme-tagged public key. */
  readonly publicKey: Uint8Array;
  /** Scheme-tagged secret: the key-generation seed(s). Keep it secret; store it with writeKeyFile. */
  readonly secretKey: Uint8Array;
}

export interface GenerateOptions {
  /** Exact seed (32 bytes; 64 for the hybrid: Ed25519 seed then ML-DSA seed). */
  readonly seed?: Uint8Array;
  /** Source of the seed when none is given (e.g. the simulator's seeded Rng). Default: node:crypto CSPRNG. */
  readonly rng?: Rng;
}

export interface SignerOptions {
  /** Which Ed25519 implementation signs (both produce identical, deterministic signatures). */
  readonly ed25519?: Ed25519Backend;
}

export interface VerifierOptions {
  /** Which Ed25519 implementation verifies; both follow the same acceptance rule. Default native. */
  readonly ed25519?: Ed25519Backend;
}

function schemeArg(scheme: unknown): SupportedScheme {
  if (!isSupportedScheme(scheme)) throw new CryptoError(`unsupported signature scheme ${JSON.stringify(scheme)}`);
  return scheme;
}

/** Generates a key pair; deterministic when `seed` (or a seeded `rng`) is given. */
export function generateKeyPair(scheme: SignatureScheme, options: GenerateOptions = {}): KeyPair {
  const s = schemeArg(scheme);
  const len = SCHEME_SIZES[s].secret;
  let seed: Uint8Array;
  if (options.seed !== undefined) {
    if (!(options.seed instanceof Uint8Array) || options.seed.length !== len) {
      throw new CryptoError(`${s} seed must be ${len} bytes`);
    }
    seed = Uint8Array.from(options.seed);
  } else if (options.rng !== undefined) {
    seed = options.rng.bytes(len);
    if (seed.length !== len) throw new CryptoError(`rng returned ${seed.length} bytes, asked for ${len}`);
  } else {
    seed = new Uint8Array(randomBytes(len));
  }
  const secretKey = tagged(s, seed);
  return { scheme: s, publicKey: publicKeyFromSecret(secretKey), secretKey };
}

function mlDsa(scheme: 'ml-dsa-44' | 'ml-dsa-65') {
  return scheme === 'ml-dsa-44' ? ml_dsa44 : ml_dsa65;
}

/** Derives the scheme-tagged public key belonging to a scheme-tagged secret. */
export function publicKeyFromSecret(secretKey: Uint8Array, expected?: SignatureScheme): Uint8Array {
  const { scheme, body } = untag(secretKey, 'secret', expected);
  switch (scheme) {
    case 'ed25519':
      return tagged(scheme, ed25519PublicKeyFromSeed(body));
    case 'ml-dsa-44':
    case 'ml-dsa-65':
      return tagged(scheme, mlDsa(scheme).keygen(body.slice()).publicKey);
    case 'hybrid-ed25519-ml-dsa-44':
      return tagged(
        scheme,
        concatBytes(
          ed25519PublicKeyFromSeed(body.subarray(0, ED25519_SIZES.secret)),
          ml_dsa44.keygen(body.slice(ED25519_SIZES.secret)).publicKey,
        ),
      );
  }
}

/**
 * A Signer for a scheme-tagged secret. `expected` guards against loading the wrong key type.
 * ML-DSA signs deterministically (FIPS 204 "deterministic variant"): the same key and message give
 * the same signature, so simulated runs replay byte for byte.
 */
export function signerFromSecret(secretKey: Uint8Array, expected?: SignatureScheme, options: SignerOptions = {}): Signer {
  const { scheme, body } = untag(secretKey, 'secret', expected);
  const backend = options.ed25519 ?? 'native';
  switch (scheme) {
    case 'ed25519': {
      const k = ed25519KeyFromSeed(body, backend);
      const publicKey = tagged(scheme, k.publicKey);
      return Object.freeze({ scheme, publicKey, sign: (m: Uint8Array) => tagged(scheme, k.sign(m)) });
    }
    case 'ml-dsa-44':
    case 'ml-dsa-65': {
      const alg = mlDsa(scheme);
      const keys = alg.keygen(body.slice());
      const publicKey = tagged(scheme, keys.publicKey);
      return Object.freeze({
        scheme,
        publicKey,
        sign: (m: Uint8Array) => tagged(scheme, alg.sign(m, keys.secretKey, { extraEntropy: false })),
      });
    }
    case 'hybrid-ed25519-ml-dsa-44': {
      const ed = ed25519KeyFromSeed(body.subarray(0, ED25519_SIZES.secret), backend);
      const pq = ml_dsa44.keygen(body.slice(ED25519_SIZES.secret));
      const publicKey = tagged(scheme, concatBytes(ed.publicKey, pq.publicKey));
      return Object.freeze({
        scheme,
        publicKey,
        sign: (m: Uint8Array) =>
          tagged(
            scheme,
            concatBytes(
              ed.sign(concatBytes(HYBRID_ED_PREFIX, m)),
              ml_dsa44.sign(m, pq.secretKey, { context: HYBRID_DOMAIN, extraEntropy: false }),
            ),
          ),
      });
    }
  }
}

export interface ParsedPublicKey {
  readonly scheme: SupportedScheme;
  /** The untagged key bytes (for the hybrid: Ed25519 key then ML-DSA-44 key). */
  readonly key: Uint8Array;
}

/** Splits a scheme-tagged public key; throws CryptoError on unknown tag, wrong scheme or length. */
export function parsePublicKey(publicKey: Uint8Array, expected?: SignatureScheme): ParsedPublicKey {
  const { scheme, body } = untag(publicKey, 'publicKey', expected);
  return { scheme, key: body };
}

/**
 * Registration-time check (pass it to `createValidatorSet({ validateKey })`): the key is tagged
 * with a supported scheme, has the right length, and an Ed25519 key (alone or in a hybrid) is a
 * canonical point that is not of small order. Throws CryptoError saying what is wrong.
 */
export function validatePublicKey(publicKey: Uint8Array, expected?: SignatureScheme): void {
  const { scheme, body } = untag(publicKey, 'publicKey', expected);
  if (scheme === 'ed25519') validateEd25519PublicKey(body);
  else if (scheme === 'hybrid-ed25519-ml-dsa-44') validateEd25519PublicKey(body.subarray(0, ED25519_SIZES.publicKey));
  // ML-DSA public keys are (rho, t1) with t1 packed at 10 bits per coefficient: every byte string
  // of the right length decodes, so length is the whole structural check FIPS 204 allows.
}

type EdVerify = (pk: Uint8Array, m: Uint8Array, s: Uint8Array) => boolean;

function mlDsaVerify(scheme: 'ml-dsa-44' | 'ml-dsa-65', pk: Uint8Array, m: Uint8Array, sig: Uint8Array, context?: Uint8Array): boolean {
  try {
    return mlDsa(scheme).verify(sig, m, pk, context === undefined ? undefined : { context });
  } catch {
    return false;
  }
}

function verifyWith(edVerify: EdVerify, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    if (!(publicKey instanceof Uint8Array) || !(message instanceof Uint8Array) || !(signature instanceof Uint8Array)) return false;
    // Both must carry the same tag: a signature of one scheme never verifies under a key of another.
    if (publicKey.length === 0 || signature.length === 0 || publicKey[0] !== signature[0]) return false;
    const scheme = schemeOfTag(publicKey[0]);
    if (!isSupportedScheme(scheme)) return false;
    const sizes = SCHEME_SIZES[scheme];
    if (publicKey.length !== sizes.publicKey + 1 || signature.length !== sizes.signature + 1) return false;
    const pk = publicKey.subarray(1);
    const sig = signature.subarray(1);
    switch (scheme) {
      case 'ed25519':
        return edVerify(pk, message, sig);
      case 'ml-dsa-44':
      case 'ml-dsa-65':
        return mlDsaVerify(scheme, pk, message, sig);
      case 'hybrid-ed25519-ml-dsa-44': {
        const edPk = pk.subarray(0, ED25519_SIZES.publicKey);
        const edSig = sig.subarray(0, ED25519_SIZES.signature);
        // Both halves must verify; the cheap Ed25519 half first so garbage is refused quickly.
        return (
          edVerify(edPk, concatBytes(HYBRID_ED_PREFIX, message), edSig) &&
          mlDsaVerify('ml-dsa-44', pk.subarray(ED25519_SIZES.publicKey), message, sig.subarray(ED25519_SIZES.signature), HYBRID_DOMAIN)
        );
      }
    }
  } catch {
    return false;
  }
}

/** A Verifier over every supported scheme. */
export function createVerifier(options: VerifierOptions = {}): Verifier {
  const edVerify = options.ed25519 === 'noble' ? ed25519VerifyNoble : ed25519VerifyNative;
  return Object.freeze({ verify: (pk: Uint8Array, m: Uint8Array, s: Uint8Array) => verifyWith(edVerify, pk, m, s) });
}

/** The default Verifier (Ed25519 on the native path). */
export const verifier: Verifier = createVerifier();

/** Verifies one scheme-tagged signature with the default (native) path. Never throws. */
export function verifySignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  return verifyWith(ed25519VerifyNative, publicKey, message, signature);
}

/** Raw ML-DSA verification (untagged key/signature, optional FIPS 204 context). Never throws. */
export function mlDsaVerifyRaw(
  scheme: 'ml-dsa-44' | 'ml-dsa-65',
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
  context?: Uint8Array,
): boolean {
  const sizes = SCHEME_SIZES[scheme];
  if (publicKey.length !== sizes.publicKey || signature.length !== sizes.signature) return false;
  return mlDsaVerify(scheme, publicKey, message, signature, context);
}
