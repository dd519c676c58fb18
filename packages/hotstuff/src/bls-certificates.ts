/**
 * BLS certificate schemes (DESIGN §5: aggregate/threshold BLS pays off only for large n). The
 * BLS arithmetic is injected — wire it from `@phalanx/threshold` (see README) — so this package
 * keeps no dependency on a pairing library and a runtime can pick noble or blst.
 *
 *  - `blsAggregateScheme`: each vote is a BLS signature by the voter's own BLS key; a QC is a
 *    bitmap of voters plus ONE aggregate signature (same message, keys registered with proofs of
 *    possession, so rogue-key attacks are excluded). Verifies with the validators' BLS keys.
 *  - `thresholdBlsScheme`: each vote is a share of a (2f+1)-of-n threshold key; a QC is ONE
 *    96-byte signature under the group key, whoever signed. Verifies with the group key alone.
 *    Unweighted validator sets only (every validator holds one share).
 */
import { CertificateError, ConfigError, DecodeError } from '@phalanx/interface';
import type { NodeId } from '@phalanx/interface';
import { decode, encode, readArray, readBytes, readUint } from '@phalanx/codec';
import { quorumPower, voteSigningBytes } from '@phalanx/quorum';
import type { CertificateSchemeFactory } from './certificates.js';

/** Same-message BLS aggregation (e.g. @phalanx/threshold `sign`, `verify`, `aggregateSignatures`, `fastAggregateVerify`). */
export interface BlsAggregatePrimitives {
  sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array;
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
  aggregate(signatures: readonly Uint8Array[]): Uint8Array;
  /** Keys were checked (proof of possession) when the scheme was built. */
  verifyAggregate(publicKeys: readonly Uint8Array[], message: Uint8Array, signature: Uint8Array): boolean;
}

export interface BlsAggregateOptions {
  readonly bls: BlsAggregatePrimitives;
  /** Every validator's BLS public key (proof of possession checked by whoever built this map). */
  readonly publicKeys: ReadonlyMap<NodeId, Uint8Array>;
  /** This replica's BLS secret key (absent for verify-only use). */
  readonly secretKey?: Uint8Array;
}

export function blsAggregateScheme(opts: BlsAggregateOptions): CertificateSchemeFactory {
  return (p) => {
    const ids = p.validators.validators.map((v) => v.id);
    const decodeAggregate = (cert: Uint8Array): { bitmap: Uint8Array; sig: Uint8Array } => {
      const a = readArray(decode(cert, { maxBytes: 4096, maxDepth: 2 }), 'qc.sig', 2);
      if (a.length !== 2) throw new DecodeError('qc.sig: expected [bitmap, signature]');
      return {
        bitmap: readBytes(a[0], 'qc.sig.bitmap', { exact: Math.ceil(ids.length / 8) }),
        sig: readBytes(a[1], 'qc.sig.signature', { max: 192 }),
      };
    };
    for (const id of ids) if (!opts.publicKeys.has(id)) throw new ConfigError(`certificates.publicKeys.${id}`, 'missing BLS public key');
    const threshold = quorumPower(p.validators.totalPower);
    return {
      name: 'bls-aggregate',
      sign(body) {
        if (!opts.secretKey) throw new CertificateError('no BLS secret key configured');
        return opts.bls.sign(opts.secretKey, voteSigningBytes(p.chainId, body));
      },
      verifyShare(voter, body, share) {
        const pk = opts.publicKeys.get(voter);
        if (!pk || !p.validators.has(voter)) return false;
        try {
          return opts.bls.verify(pk, voteSigningBytes(p.chainId, body), share);
        } catch {
          return false;
        }
      },
      combine(_body, shares) {
        const bitmap = new Uint8Array(Math.ceil(ids.length / 8));
        for (const s of shares) {
          const i = p.validators.indexOf(s.voter);
          bitmap[i >> 3]! |= 1 << (i & 7);
        }
        return encode([bitmap, opts.bls.aggregate(shares.map((s) => s.share))]);
      },
      verify(body, cert) {
        const { bitmap, sig } = decodeAggregate(cert);
        const keys: Uint8Array[] = [];
        let power = 0;
        for (let i = 0; i < ids.length; i++) {
          if (bitmap[i >> 3]! & (1 << (i & 7))) {
            keys.push(opts.publicKeys.get(ids[i]!)!);
            power += p.validators.validators[i]!.power;
          }
        }
        for (let i = ids.length; i < bitmap.length * 8; i++) if (bitmap[i >> 3]! & (1 << (i & 7))) throw new CertificateError('qc.sig: bitmap names a non-member');
        if (power < threshold) throw new CertificateError(`certificate carries voting power ${power}, needs ${threshold}`);
        let ok = false;
        try {
          ok = opts.bls.verifyAggregate(keys, voteSigningBytes(p.chainId, body), sig);
        } catch {
          ok = false;
        }
        if (!ok) throw new CertificateError('aggregate signature does not verify');
      },
      signers(cert) {
        const { bitmap } = decodeAggregate(cert);
        return ids.filter((_, i) => (bitmap[i >> 3]! & (1 << (i & 7))) !== 0);
      },
    };
  };
}

/** Threshold BLS over one group key (e.g. @phalanx/threshold `signShare`, `verifyShare`, `combineSignatures`, `verifyThresholdSignature`). */
export interface ThresholdBlsPrimitives {
  /** This replica's share over `message` (absent for verify-only use). */
  signShare?(message: Uint8Array): Uint8Array;
  /** Share of party `index` (1-based: validator position + 1). */
  verifyShare(index: number, message: Uint8Array, share: Uint8Array): boolean;
  /** Group signature from at least threshold+1 shares. */
  combine(message: Uint8Array, shares: readonly { readonly index: number; readonly signature: Uint8Array }[]): Uint8Array;
  /** Checks a group signature under the group public key. */
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

export function thresholdBlsScheme(bls: ThresholdBlsPrimitives): CertificateSchemeFactory {
  return (p) => {
    if (p.validators.validators.some((v) => v.power !== 1)) {
      throw new ConfigError('certificates', 'threshold BLS needs an unweighted validator set (power 1 each)');
    }
    return {
      name: 'bls-threshold',
      sign(body) {
        if (!bls.signShare) throw new CertificateError('no threshold key share configured');
        return bls.signShare(voteSigningBytes(p.chainId, body));
      },
      verifyShare(voter, body, share) {
        const i = p.validators.indexOf(voter);
        if (i < 0) return false;
        try {
          return bls.verifyShare(i + 1, voteSigningBytes(p.chainId, body), share);
        } catch {
          return false;
        }
      },
      combine(body, shares) {
        return bls.combine(
          voteSigningBytes(p.chainId, body),
          shares.map((s) => ({ index: p.validators.indexOf(s.voter) + 1, signature: s.share })),
        );
      },
      verify(body, cert) {
        readUint(cert.length, 'qc.sig.length', 192);
        let ok = false;
        try {
          ok = bls.verify(voteSigningBytes(p.chainId, body), cert);
        } catch {
          ok = false;
        }
        if (!ok) throw new CertificateError('threshold signature does not verify under the group key');
      },
    };
  };
}
