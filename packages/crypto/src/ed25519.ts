/**
 * Ed25519 under one acceptance rule, with two interchangeable verifiers:
 *  - `ed25519VerifyNoble`: the portable reference, pure JS on @noble/curves point arithmetic;
 *  - `ed25519VerifyNative`: the fast path on node:crypto (OpenSSL) with cached KeyObjects.
 *
 * Every replica must accept exactly the same signatures (DESIGN §5), and OpenSSL and noble
 * disagree on edge cases (noble's strict mode checks the cofactored equation, OpenSSL the
 * cofactorless one; they treat small-order and non-canonical points differently). So the rule
 * below is enforced by pre-checks shared by both paths, and the equation itself is the same
 * cofactorless one on both. Tests pin every edge case (Wycheproof, RFC 8032, crafted points).
 *
 * THE RULE ("strict cofactorless", the rule libsodium applies), for public key A (32 bytes),
 * signature R || S (64 bytes), message M:
 *  1. A is a canonical encoding (y < p; x = 0 with sign bit 1 refused) of a curve point that is
 *     not of small order (order 1, 2, 4 or 8). A need not be torsion-free.
 *  2. S < L (the group order): non-canonical S is refused, so signatures are not malleable.
 *  3. R does not encode a small-order point under any encoding (canonical or not, either sign).
 *  4. With k = SHA-512(R || A || M) mod L, the canonical encoding of [S]B − [k]A equals the
 *     32 bytes of R exactly (cofactorless; this also refuses any non-canonical R).
 */
import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE, numberToBytesLE } from '@noble/curves/utils.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { bytesEqual } from '@phalanx/codec';
import { CryptoError } from '@phalanx/interface';
import { LruCache } from './lru.js';

const Point = ed25519.Point;
type EdPoint = InstanceType<typeof Point>;

/** Field prime p = 2^255 − 19. */
const P = (1n << 255n) - 19n;
/** Prime order L of the base point. */
const L = (1n << 252n) + 27742317777372353535851937790883648493n;

const leToBigint = bytesToNumberLE;
const bigintToLe32 = (n: bigint): Uint8Array => numberToBytesLE(n, 32);

/** Hex via Buffer (native) rather than codec's toHex: this runs twice per verify on the hot path. */
function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

const L_BYTES = bigintToLe32(L);

/** True iff the little-endian 32-byte scalar is < L. Constant data, variable time is fine (public). */
export function isCanonicalScalar(s: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    if (s[i]! < L_BYTES[i]!) return true;
    if (s[i]! > L_BYTES[i]!) return false;
  }
  return false; // s == L
}

/**
 * Every 32-byte string that decodes (leniently: y taken mod p, either sign bit) to a point of
 * small order. Derived here from the curve rather than pasted: take any point, multiply by L to
 * land in the 8-torsion subgroup, keep one of order 8, and enumerate its multiples.
 */
const SMALL_ORDER_ENCODINGS: ReadonlySet<string> = (() => {
  let gen: EdPoint | undefined;
  for (let i = 2; gen === undefined && i < 1000; i++) {
    let p: EdPoint;
    try {
      p = Point.fromBytes(bigintToLe32(BigInt(i)));
    } catch {
      continue; // i is not the y of a curve point
    }
    const t = p.multiplyUnsafe(L - 1n).add(p); // [L]p: only the torsion component survives
    if (!t.double().double().is0()) gen = t; // order exactly 8
  }
  if (gen === undefined) throw new Error('unreachable: no 8-torsion generator found');
  const set = new Set<string>();
  let t = Point.ZERO;
  for (let i = 0; i < 8; i++) {
    const y = leToBigint(t.toBytes()) & ((1n << 255n) - 1n);
    for (const yy of [y, y + P]) {
      if (yy >= 1n << 255n) continue;
      const enc = bigintToLe32(yy);
      set.add(hex(enc));
      enc[31]! |= 0x80;
      set.add(hex(enc));
    }
    t = t.add(gen);
  }
  return set;
})();

/** True iff these 32 bytes encode (in any encoding) a point of order 1, 2, 4 or 8. */
export function isSmallOrderEncoding(bytes: Uint8Array): boolean {
  return bytes.length === 32 && SMALL_ORDER_ENCODINGS.has(hex(bytes));
}

/**
 * Decodes a public key under rule 1, or explains why not. Returns the point so callers that go
 * on to use it (the noble path) decode once.
 */
function decodePublicKey(raw: Uint8Array): EdPoint | string {
  if (raw.length !== 32) return `Ed25519 public key must be 32 bytes, got ${raw.length}`;
  if (isSmallOrderEncoding(raw)) return 'Ed25519 public key is a small-order point (identity or torsion); refused';
  let a: EdPoint;
  try {
    a = Point.fromBytes(raw, false); // strict: y < p, no "negative zero"
  } catch (err) {
    return `Ed25519 public key is not a canonical curve point (${(err as Error).message})`;
  }
  // The blocklist covers every small-order encoding; this is a belt-and-braces second opinion.
  if (a.isSmallOrder()) return 'Ed25519 public key is a small-order point; refused';
  return a;
}

/** Throws CryptoError unless `raw` (untagged, 32 bytes) satisfies rule 1. */
export function validateEd25519PublicKey(raw: Uint8Array): void {
  const r = decodePublicKey(raw);
  if (typeof r === 'string') throw new CryptoError(r);
}

/** Rules 2 and 3: checks on the signature alone, shared by both paths. */
function signaturePrecheck(sig: Uint8Array): boolean {
  if (sig.length !== 64) return false;
  if (!isCanonicalScalar(sig.subarray(32, 64))) return false;
  if (isSmallOrderEncoding(sig.subarray(0, 32))) return false;
  return true;
}

/** Reference verifier: the rule above on @noble/curves arithmetic. Never throws. */
export function ed25519VerifyNoble(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    if (!signaturePrecheck(signature)) return false;
    const a = decodePublicKey(publicKey);
    if (typeof a === 'string') return false;
    const r = signature.subarray(0, 32);
    const s = leToBigint(signature.subarray(32, 64));
    const h = sha512.create().update(r).update(publicKey).update(message).digest();
    const k = leToBigint(h) % L;
    // Rule 4, cofactorless: R' = [S]B − [k]A, compared by canonical encoding.
    const rPrime = Point.BASE.multiplyUnsafe(s).subtract(a.multiplyUnsafe(k));
    return bytesEqual(rPrime.toBytes(), r);
  } catch {
    return false;
  }
}

// DER wrappers that turn raw Ed25519 keys into KeyObjects (RFC 8410 SubjectPublicKeyInfo / PKCS#8).
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** Default bound on cached public KeyObjects (a validator set plus churn fits easily). */
export const DEFAULT_KEY_CACHE_SIZE = 4096;

/** `false` caches "this key breaks rule 1", so a Byzantine key costs one decode, not one per message. */
let keyCache = new LruCache<string, KeyObject | false>(DEFAULT_KEY_CACHE_SIZE);

/** Resizes (and empties) the native path's KeyObject cache for this thread. `ConfigError` (path `capacity`) outside 1..2^22. */
export function setEd25519KeyCacheSize(capacity: number): void {
  keyCache = new LruCache<string, KeyObject | false>(capacity);
}

function nativePublicKey(raw: Uint8Array): KeyObject | false {
  const id = hex(raw);
  const hit = keyCache.get(id);
  if (hit !== undefined) return hit;
  let key: KeyObject | false = false;
  if (typeof decodePublicKey(raw) !== 'string') {
    try {
      key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
    } catch {
      key = false;
    }
  }
  keyCache.set(id, key);
  return key;
}

/** Fast verifier: the same rule, equation checked by OpenSSL (cofactorless). Never throws. */
export function ed25519VerifyNative(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    if (publicKey.length !== 32 || !signaturePrecheck(signature)) return false;
    const key = nativePublicKey(publicKey);
    if (key === false) return false;
    return nodeVerify(null, message, key, signature);
  } catch {
    return false;
  }
}

export type Ed25519Backend = 'native' | 'noble';

/** Raw Ed25519 signing key (32-byte seed) with both backends; signatures are identical (deterministic). */
export interface Ed25519Key {
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

export function ed25519PublicKeyFromSeed(seed: Uint8Array): Uint8Array {
  if (seed.length !== 32) throw new CryptoError(`Ed25519 seed must be 32 bytes, got ${seed.length}`);
  return ed25519.getPublicKey(seed);
}

export function ed25519KeyFromSeed(seed: Uint8Array, backend: Ed25519Backend = 'native'): Ed25519Key {
  const publicKey = ed25519PublicKeyFromSeed(seed);
  if (backend === 'noble') {
    const secret = Uint8Array.from(seed);
    return { publicKey, sign: (m) => ed25519.sign(m, secret) };
  }
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  return {
    publicKey,
    sign: (m) => {
      const b = nodeSign(null, m, key);
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    },
  };
}
