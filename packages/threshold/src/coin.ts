/**
 * Threshold common coin (Cachin, Kursawe, Shoup 2000, "Random oracles in Constantinople"):
 * coin(round) = H(σ_round) where σ_round is the group's threshold BLS signature on a
 * domain-separated round tag. BLS signatures are unique, so every t+1 shares give the same σ and
 * the same coin; fewer than t+1 parties cannot compute σ, so the coin is unpredictable until
 * t+1 parties release their shares.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { encode } from '@phalanx/codec';
import { CryptoError } from '@phalanx/interface';
import { combineSignatures, signShare, verifyThresholdSignature } from './threshold.js';
import type { CombineOptions, InvalidShare, SignatureShare, ThresholdPublicKey } from './threshold.js';
import type { Share } from './shamir.js';

export const COIN_DOMAIN = 'phalanx/coin/v1';

/**
 * The bytes signed for `round` of coin instance `instance`: canonical CBOR of
 * ['phalanx/coin/v1', instance, round], so no (instance, round) pair collides with another and
 * no coin message collides with a signed protocol message (those start with 'phalanx-sig').
 */
export function coinMessage(instance: string, round: bigint | number): Uint8Array {
  const r = BigInt(round);
  if (r < 0n) throw new CryptoError('coin round must be non-negative');
  return encode([COIN_DOMAIN, instance, r]);
}

export interface Coin {
  /** The coin bit: low bit of the first byte of SHA-256(σ). */
  readonly bit: 0 | 1;
  /** 32 uniformly random bytes, SHA-256(σ); use them when a protocol needs more than a bit. */
  readonly bytes: Uint8Array;
  /** The group signature σ: anyone with the group key can recheck the coin from it. */
  readonly signature: Uint8Array;
}

function coinOf(signature: Uint8Array): Coin {
  const bytes = sha256(signature);
  return { bit: (bytes[0]! & 1) as 0 | 1, bytes, signature };
}

/** Party i's share of the coin for `round`. */
export function coinShare(secretShare: Share, instance: string, round: bigint | number): SignatureShare {
  return signShare(secretShare, coinMessage(instance, round));
}

/** Combines ≥ t+1 coin shares (bad ones excluded and reported). Throws InsufficientSharesError. */
export function combineCoin(
  pub: ThresholdPublicKey,
  instance: string,
  round: bigint | number,
  shares: readonly SignatureShare[],
  opts: CombineOptions = {},
): Coin & { readonly invalid: readonly InvalidShare[] } {
  const res = combineSignatures(pub, coinMessage(instance, round), shares, opts);
  return { ...coinOf(res.signature), invalid: res.invalid };
}

/** The coin from a group signature someone else combined; throws CryptoError if σ is not valid. */
export function coinFromSignature(pub: ThresholdPublicKey, instance: string, round: bigint | number, signature: Uint8Array): Coin {
  if (!verifyThresholdSignature(pub, coinMessage(instance, round), signature)) {
    throw new CryptoError('coin signature does not verify under the group key');
  }
  return coinOf(signature);
}
