/**
 * Strict point decoding and hashing for the min-pk BLS12-381 suite on @noble/curves.
 * Public keys are compressed G1 points (48 bytes), signatures compressed G2 points (96 bytes).
 * Decoding rejects other lengths (no uncompressed forms: one encoding per point), points off the
 * curve or outside the prime-order subgroup, and the identity (KeyValidate in
 * draft-irtf-cfrg-bls-signature-05 §2.5; the identity key or signature verifies anything).
 */
import { bls12_381 } from '@noble/curves/bls12-381.js';
import type { WeierstrassPoint } from '@noble/curves/abstract/weierstrass.js';
import { CryptoError } from '@phalanx/interface';
import { toHex } from '@phalanx/codec';
import { sha256 } from '@noble/hashes/sha2.js';

export type G1Point = WeierstrassPoint<bigint>;
export type G2Point = WeierstrassPoint<ReturnType<typeof bls12_381.fields.Fp2.create>>;
export const G1 = bls12_381.G1.Point;
export const G2 = bls12_381.G2.Point;
export const PUBLIC_KEY_BYTES = 48;
export const SIGNATURE_BYTES = 96;

/** Bounded memo: public keys (group key, key shares, validators) are decoded again and again. */
class Memo<V> {
  readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(key: string, make: () => V): V {
    const hit = this.map.get(key);
    if (hit !== undefined) return hit;
    const v = make();
    if (this.map.size >= this.max) {
      const first = this.map.keys().next();
      if (!first.done) this.map.delete(first.value);
    }
    this.map.set(key, v);
    return v;
  }
}

const g1Memo = new Memo<G1Point>(4096);
const g2Memo = new Memo<G2Point>(512);
const hashMemo = new Memo<G2Point>(64);

/** Empties the memo tables (benchmarks use it to measure cold paths: a new message, new shares). */
export function clearPointCaches(which: { g1?: boolean; g2?: boolean; hash?: boolean } = { g1: true, g2: true, hash: true }): void {
  if (which.g1) g1Memo.map.clear();
  if (which.g2) g2Memo.map.clear();
  if (which.hash) hashMemo.map.clear();
}

function decodeG1Uncached(bytes: Uint8Array, what: string): G1Point {
  if (bytes.length !== PUBLIC_KEY_BYTES) throw new CryptoError(`${what}: expected ${PUBLIC_KEY_BYTES} bytes (compressed G1), got ${bytes.length}`);
  let p: G1Point;
  try {
    p = G1.fromBytes(bytes); // checks on-curve and subgroup membership
  } catch (err) {
    throw new CryptoError(`${what}: not a valid G1 point`, { cause: err });
  }
  if (p.is0()) throw new CryptoError(`${what}: identity point`);
  return p;
}

/** A public key or commitment: compressed, on curve, in the subgroup, not the identity. */
export function decodeG1(bytes: Uint8Array, what = 'public key'): G1Point {
  if (bytes.length !== PUBLIC_KEY_BYTES) return decodeG1Uncached(bytes, what);
  return g1Memo.get(toHex(bytes), () => decodeG1Uncached(bytes, what));
}

/** A signature: compressed, on the twist, in the subgroup, not the identity. */
export function decodeG2(bytes: Uint8Array, what = 'signature'): G2Point {
  if (bytes.length !== SIGNATURE_BYTES) return decodeG2Uncached(bytes, what);
  // Memoised: combine checks a share and then uses it; noble decoding costs ~4 ms.
  return g2Memo.get(toHex(bytes), () => decodeG2Uncached(bytes, what));
}

function decodeG2Uncached(bytes: Uint8Array, what: string): G2Point {
  if (bytes.length !== SIGNATURE_BYTES) throw new CryptoError(`${what}: expected ${SIGNATURE_BYTES} bytes (compressed G2), got ${bytes.length}`);
  let p: G2Point;
  try {
    p = G2.fromBytes(bytes); // checks on-curve and subgroup membership
  } catch (err) {
    throw new CryptoError(`${what}: not a valid G2 point`, { cause: err });
  }
  if (p.is0()) throw new CryptoError(`${what}: identity point`);
  return p;
}

export function encodeG1(p: G1Point): Uint8Array {
  return p.toBytes(true);
}

export function encodeG2(p: G2Point): Uint8Array {
  return p.toBytes(true);
}

const Fp = bls12_381.fields.Fp;
const HALF_P = (Fp.ORDER - 1n) / 2n;

function putBE(out: Uint8Array, offset: number, x: bigint): void {
  let v = x;
  for (let i = offset + 47; i >= offset; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

/**
 * Compressed G2 encoding (ZCash serialization, as in draft-irtf-cfrg-pairing-friendly-curves
 * Appendix C) WITHOUT noble's on-curve and subgroup re-check, which costs ~3 ms per point. Only
 * for points that are in G2 by construction (sums and multiples of validated points); whoever
 * verifies the bytes decodes them with full checks anyway. Byte-identical to `toBytes(true)`
 * (tested).
 */
export function encodeG2Unchecked(p: G2Point): Uint8Array {
  if (p.is0()) return encodeG2(p);
  const { x, y } = p.toAffine();
  const out = new Uint8Array(SIGNATURE_BYTES);
  putBE(out, 0, x.c1);
  putBE(out, 48, x.c0);
  // Sign bit: y is "lexicographically largest" (c1 decides, c0 when c1 = 0).
  const big = y.c1 !== 0n ? y.c1 > HALF_P : y.c0 > HALF_P;
  out[0] = out[0]! | 0x80 | (big ? 0x20 : 0);
  return out;
}

/**
 * A G2 point from affine coordinates already validated elsewhere (by blst): skips noble's
 * decompression and subgroup check.
 */
export function g2FromTrustedUncompressed(u: Uint8Array): G2Point {
  const be = (off: number): bigint => {
    let v = 0n;
    for (let i = off; i < off + 48; i++) v = (v << 8n) | BigInt(u[i]!);
    return v;
  };
  const Fp2 = bls12_381.fields.Fp2;
  return G2.fromAffine({ x: Fp2.create({ c0: be(48), c1: be(0) }), y: Fp2.create({ c0: be(144), c1: be(96) }) });
}

/** hash_to_curve into G2 (RFC 9380 BLS12381G2_XMD:SHA-256_SSWU_RO_) under `dst`, memoised. */
export function hashToG2(message: Uint8Array, dst: string): G2Point {
  // Long messages are keyed by their SHA-256 so the memo never holds megabytes of hex.
  const key = `${dst}|${message.length <= 256 ? toHex(message) : `#${toHex(sha256(message))}`}`;
  return hashMemo.get(key, () => bls12_381.longSignatures.hash(message, dst));
}

/** e(pk, H(m)) == e(g1, σ), computed as one multi-pairing with a single final exponentiation. */
export function pairingCheck(pk: G1Point, hm: G2Point, sig: G2Point): boolean {
  return bls12_381.longSignatures.verify(sig, hm, pk);
}
