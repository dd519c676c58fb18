/**
 * Verification backends. Noble (pure JS) is the reference and always present; @chainsafe/blst
 * (native, ~25× faster verify) is an optional dependency loaded at runtime with a dynamic import.
 * Both sit behind `BlsBackend` and must return the same answer for every input (tested on every
 * Wycheproof vector and on the package's own signatures).
 *
 * @chainsafe/blst hard-codes the POP ciphersuite DST, so for any other DST (the Basic-scheme
 * vectors, proofs of possession) the blst backend hands the call to noble.
 */
import { CryptoError } from '@phalanx/interface';
import { toHex } from '@phalanx/codec';
import {
  decodeG1,
  decodeG2,
  encodeG2Unchecked,
  g2FromTrustedUncompressed,
  hashToG2,
  pairingCheck,
  G1,
  G2,
  PUBLIC_KEY_BYTES,
  SIGNATURE_BYTES,
} from './points.js';
import { msm } from './msm.js';
import type { G1Point, G2Point } from './points.js';
import { DST_SIG_POP } from './suite.js';

export interface BlsBackend {
  readonly name: 'noble' | 'blst';
  /** True iff `signature` is valid for `message` under `publicKey` and `dst`. Never throws. */
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array, dst: string): boolean;
  /**
   * One signature aggregated over one message by many keys. The caller must have checked a proof
   * of possession for every key (rogue keys otherwise forge). Never throws.
   */
  fastAggregateVerify(publicKeys: readonly Uint8Array[], message: Uint8Array, signature: Uint8Array, dst: string): boolean;
  /**
   * Decodes a compressed signature with full checks (length, on curve, subgroup, not identity)
   * into a noble point for arithmetic. Throws CryptoError. blst does the checks ~40× faster.
   */
  decodeSignature(signature: Uint8Array): G2Point;
  /** The same checks as `decodeSignature` without building a noble point. Throws CryptoError. */
  checkSignature(signature: Uint8Array): void;
  /**
   * Σ k_i·σ_i for signed integer coefficients over signatures the caller has already validated
   * (with `decodeSignature`). The output is NOT checked: verify it before trusting it.
   * Noble: bucket MSM in pure JS. blst: bit-sliced sums through native point addition.
   */
  linearCombination(signatures: readonly Uint8Array[], coeffs: readonly bigint[]): Uint8Array;
}

const IDENTITY_G2 = (() => {
  const b = new Uint8Array(SIGNATURE_BYTES);
  b[0] = 0xc0;
  return b;
})();

export const nobleBackend: BlsBackend = {
  name: 'noble',
  verify(publicKey, message, signature, dst) {
    try {
      return pairingCheck(decodeG1(publicKey), hashToG2(message, dst), decodeG2(signature));
    } catch {
      return false;
    }
  },
  fastAggregateVerify(publicKeys, message, signature, dst) {
    try {
      if (publicKeys.length === 0) return false;
      let agg: G1Point = G1.ZERO;
      for (const pk of publicKeys) agg = agg.add(decodeG1(pk));
      if (agg.is0()) return false;
      return pairingCheck(agg, hashToG2(message, dst), decodeG2(signature));
    } catch {
      return false;
    }
  },
  decodeSignature: (signature) => decodeG2(signature),
  checkSignature: (signature) => void decodeG2(signature),
  linearCombination(signatures, coeffs) {
    const r = msm(G2.ZERO, signatures.map((s) => decodeG2(s)), coeffs);
    return r.is0() ? IDENTITY_G2.slice() : encodeG2Unchecked(r);
  },
};

/** The part of @chainsafe/blst 2.x we use (declared here so the package builds without it). */
interface BlstModule {
  verify(msg: Uint8Array, pk: unknown, sig: unknown, pkValidate?: boolean, sigGroupcheck?: boolean): boolean;
  fastAggregateVerify(msg: Uint8Array, pks: unknown[], sig: unknown, sigsGroupcheck?: boolean): boolean;
  PublicKey: { fromBytes(bytes: Uint8Array, pkValidate?: boolean): unknown };
  Signature: { fromBytes(bytes: Uint8Array, sigValidate?: boolean, sigInfcheck?: boolean): BlstSignature };
  aggregateSignatures(sigs: BlstSignature[], sigsGroupcheck?: boolean): BlstSignature;
}

interface BlstSignature {
  toBytes(compress?: boolean): Uint8Array;
}

/**
 * Σ k_i·P_i with native additions only (blst exposes addition, not scalar multiplication):
 * bit-sliced double-and-add, acc ← 2·acc + Σ_{i: bit b of k_i} P_i, one native call per bit.
 * Negative k_i use −P_i, which in compressed form is the same bytes with the sign flag flipped.
 */
function blstLinearCombination(blst: BlstModule, signatures: readonly Uint8Array[], coeffs: readonly bigint[]): Uint8Array {
  const pts: BlstSignature[] = [];
  const ks: bigint[] = [];
  signatures.forEach((s, i) => {
    const k = coeffs[i]!;
    if (k === 0n) return;
    const bytes = Uint8Array.from(s);
    if (k < 0n) bytes[0] = bytes[0]! ^ 0x20;
    pts.push(blst.Signature.fromBytes(bytes, false, false));
    ks.push(k < 0n ? -k : k);
  });
  const bits = Math.max(0, ...ks.map((k) => k.toString(2).length));
  let acc: BlstSignature | undefined;
  for (let b = bits - 1; b >= 0; b--) {
    const list: BlstSignature[] = acc ? [acc, acc] : [];
    const bit = BigInt(b);
    for (let i = 0; i < pts.length; i++) if ((ks[i]! >> bit) & 1n) list.push(pts[i]!);
    if (list.length > 0) acc = blst.aggregateSignatures(list, false);
  }
  return acc ? acc.toBytes(true) : IDENTITY_G2.slice();
}

function blstBackend(blst: BlstModule): BlsBackend {
  // Same acceptance rule as noble: compressed encodings only, subgroup-checked, no identity.
  // Validated native keys, memoised: validator keys and key shares are verified against again and again.
  const pkCache = new Map<string, unknown>();
  const pk = (bytes: Uint8Array): unknown => {
    if (bytes.length !== PUBLIC_KEY_BYTES) throw new CryptoError('public key length');
    const key = toHex(bytes);
    let k = pkCache.get(key);
    if (k === undefined) {
      k = blst.PublicKey.fromBytes(bytes, true); // throws for invalid or identity keys: not cached
      if (pkCache.size >= 4096) pkCache.clear();
      pkCache.set(key, k);
    }
    return k;
  };
  const sig = (bytes: Uint8Array): BlstSignature => {
    if (bytes.length !== SIGNATURE_BYTES) throw new CryptoError('signature length');
    return blst.Signature.fromBytes(bytes, true, true);
  };
  return {
    name: 'blst',
    verify(publicKey, message, signature, dst) {
      if (dst !== DST_SIG_POP) return nobleBackend.verify(publicKey, message, signature, dst);
      try {
        return blst.verify(message, pk(publicKey), sig(signature), true, true);
      } catch {
        return false;
      }
    },
    fastAggregateVerify(publicKeys, message, signature, dst) {
      if (dst !== DST_SIG_POP) return nobleBackend.fastAggregateVerify(publicKeys, message, signature, dst);
      try {
        if (publicKeys.length === 0) return false;
        return blst.fastAggregateVerify(message, publicKeys.map(pk), sig(signature), true);
      } catch {
        return false;
      }
    },
    decodeSignature(signature) {
      let uncompressed: Uint8Array;
      try {
        uncompressed = sig(signature).toBytes(false);
      } catch (err) {
        throw new CryptoError('signature: not a valid G2 point', { cause: err });
      }
      return g2FromTrustedUncompressed(uncompressed);
    },
    checkSignature(signature) {
      try {
        sig(signature);
      } catch (err) {
        throw new CryptoError('signature: not a valid G2 point', { cause: err });
      }
    },
    linearCombination(signatures, coeffs) {
      try {
        return blstLinearCombination(blst, signatures, coeffs);
      } catch {
        // An intermediate identity or any native surprise: the pure-JS path gives the same answer.
        return nobleBackend.linearCombination(signatures, coeffs);
      }
    },
  };
}

let cachedBlst: BlsBackend | null | undefined;

/** How the optional module is imported; tests inject a failing one to simulate its absence. */
export type ModuleImporter = (specifier: string) => Promise<unknown>;

// A variable specifier keeps TypeScript from requiring the optional package at build time.
const defaultImporter: ModuleImporter = (specifier) => import(specifier);

/**
 * Loads @chainsafe/blst if it is installed and its native binary loads here; undefined otherwise
 * (never throws). The default importer's outcome is cached.
 */
export async function loadBlstBackend(importer?: ModuleImporter): Promise<BlsBackend | undefined> {
  if (importer === undefined && cachedBlst !== undefined) return cachedBlst ?? undefined;
  let backend: BlsBackend | null;
  try {
    const mod = (await (importer ?? defaultImporter)('@chainsafe/blst')) as BlstModule & { default?: BlstModule };
    const blst: BlstModule = typeof mod.verify === 'function' ? mod : (mod.default as BlstModule);
    if (typeof blst?.verify !== 'function') throw new Error('unexpected @chainsafe/blst shape');
    backend = blstBackend(blst);
  } catch {
    backend = null;
  }
  if (importer === undefined) cachedBlst = backend;
  return backend ?? undefined;
}

let active: BlsBackend = nobleBackend;

/** The backend `verify`, `fastAggregateVerify` and threshold verification use. Noble until changed. */
export function activeBackend(): BlsBackend {
  return active;
}

/** Installs a backend explicitly (e.g. `nobleBackend` to force pure JS). */
export function setBackend(backend: BlsBackend): void {
  active = backend;
}

/**
 * Selects the fastest backend that loads: blst when available, noble otherwise.
 * `{ native: false }` (or env PHALANX_BLS_NATIVE=0 where `process` exists) forces noble.
 */
export async function selectBackend(opts: { native?: boolean; importer?: ModuleImporter } = {}): Promise<BlsBackend> {
  const env = typeof process !== 'undefined' ? process.env['PHALANX_BLS_NATIVE'] : undefined;
  const wantNative = opts.native ?? env !== '0';
  const chosen = wantNative ? ((await loadBlstBackend(opts.importer)) ?? nobleBackend) : nobleBackend;
  active = chosen;
  return chosen;
}
