/**
 * Scheme tags. Every public key, secret key and signature this package produces starts with one
 * byte naming its scheme, so bytes can never be read under the wrong scheme by accident and a
 * configuration file or a wire message says what it holds.
 */
import { CryptoError } from '@phalanx/interface';
import type { SignatureScheme } from '@phalanx/interface';

/** Schemes this package can sign and verify (bls12-381 lives in @phalanx/threshold). */
export type SupportedScheme = Exclude<SignatureScheme, 'bls12-381'>;

export const SCHEME_TAG: Readonly<Record<SignatureScheme, number>> = Object.freeze({
  ed25519: 0x01,
  'ml-dsa-44': 0x02,
  'ml-dsa-65': 0x03,
  'hybrid-ed25519-ml-dsa-44': 0x04,
  // Reserved so a BLS key from @phalanx/threshold is recognised and refused with a clear message.
  'bls12-381': 0x05,
});

const TAG_TO_SCHEME = new Map<number, SignatureScheme>(
  (Object.entries(SCHEME_TAG) as [SignatureScheme, number][]).map(([s, t]) => [t, s]),
);

/** Untagged sizes in bytes of each scheme's parts. */
export interface SchemeSizes {
  readonly publicKey: number;
  readonly signature: number;
  /** The secret this package stores: the key-generation seed(s), never an expanded key. */
  readonly secret: number;
}

export const ED25519_SIZES: SchemeSizes = { publicKey: 32, signature: 64, secret: 32 };
export const ML_DSA_44_SIZES: SchemeSizes = { publicKey: 1312, signature: 2420, secret: 32 };
export const ML_DSA_65_SIZES: SchemeSizes = { publicKey: 1952, signature: 3309, secret: 32 };
export const HYBRID_SIZES: SchemeSizes = {
  publicKey: ED25519_SIZES.publicKey + ML_DSA_44_SIZES.publicKey,
  signature: ED25519_SIZES.signature + ML_DSA_44_SIZES.signature,
  secret: ED25519_SIZES.secret + ML_DSA_44_SIZES.secret,
};

export const SCHEME_SIZES: Readonly<Record<SupportedScheme, SchemeSizes>> = Object.freeze({
  ed25519: ED25519_SIZES,
  'ml-dsa-44': ML_DSA_44_SIZES,
  'ml-dsa-65': ML_DSA_65_SIZES,
  'hybrid-ed25519-ml-dsa-44': HYBRID_SIZES,
});

export const SUPPORTED_SCHEMES: readonly SupportedScheme[] = Object.freeze(
  Object.keys(SCHEME_SIZES) as SupportedScheme[],
);

export function isSupportedScheme(s: unknown): s is SupportedScheme {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(SCHEME_SIZES, s);
}

/** The scheme named by a tag byte, or undefined for an unknown tag. */
export function schemeOfTag(tag: number | undefined): SignatureScheme | undefined {
  return tag === undefined ? undefined : TAG_TO_SCHEME.get(tag);
}

export function tagged(scheme: SignatureScheme, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + 1);
  out[0] = SCHEME_TAG[scheme];
  out.set(body, 1);
  return out;
}

export type TaggedKind = 'publicKey' | 'signature' | 'secret';

/**
 * Splits scheme-tagged bytes into scheme and body, checking the tag is known and supported,
 * matches `expected` when given, and that the body has exactly the scheme's length.
 * Throws CryptoError naming what is wrong.
 */
export function untag(bytes: Uint8Array, kind: TaggedKind, expected?: SignatureScheme): { scheme: SupportedScheme; body: Uint8Array } {
  if (!(bytes instanceof Uint8Array)) throw new CryptoError(`${kind} must be a Uint8Array`);
  if (bytes.length === 0) throw new CryptoError(`${kind} is empty`);
  const scheme = schemeOfTag(bytes[0]);
  if (scheme === undefined) throw new CryptoError(`${kind} has unknown scheme tag 0x${bytes[0]!.toString(16).padStart(2, '0')}`);
  if (expected !== undefined && scheme !== expected) throw new CryptoError(`${kind} is for scheme ${scheme}, expected ${expected}`);
  if (!isSupportedScheme(scheme)) throw new CryptoError(`${kind} scheme ${scheme} is not handled by @phalanx/crypto`);
  const want = SCHEME_SIZES[scheme][kind];
  const body = bytes.subarray(1);
  if (body.length !== want) throw new CryptoError(`${scheme} ${kind} must be ${want + 1} bytes with its tag, got ${bytes.length}`);
  return { scheme, body };
}
