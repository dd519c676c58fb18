/**
 * Validator identity = libp2p identity. A validator's 32-byte Ed25519 secret seed is its libp2p
 * private key, so the noise handshake proves possession of the validator key and the remote
 * PeerId maps straight back to a member of the validator set.
 */
import { generateKeyPairFromSeed, publicKeyFromRaw } from '@libp2p/crypto/keys';
import { peerIdFromPublicKey } from '@libp2p/peer-id';
import type { PeerId, PrivateKey } from '@libp2p/interface';
import { ConfigError } from '@phalanx/interface';

/** The libp2p private key for a 32-byte Ed25519 seed. */
export async function privateKeyFromSeed(seed: Uint8Array): Promise<PrivateKey> {
  if (!(seed instanceof Uint8Array) || seed.length !== 32) {
    throw new ConfigError('seed', `expected a 32-byte Ed25519 seed, got ${seed?.length ?? 'nothing'}`);
  }
  return generateKeyPairFromSeed('Ed25519', seed);
}

/**
 * The raw 32-byte Ed25519 key inside a validator public key. Accepts raw keys (32 bytes) and
 * scheme-tagged keys (a one-byte scheme tag followed by the 32-byte key, 33 bytes).
 */
export function rawEd25519(publicKey: Uint8Array, path = 'publicKey'): Uint8Array {
  if (publicKey.length === 32) return publicKey;
  if (publicKey.length === 33) return publicKey.subarray(1);
  throw new ConfigError(path, `expected an Ed25519 public key (32 raw or 33 tagged bytes), got ${publicKey.length} bytes`);
}

export function peerIdFromEd25519(publicKey: Uint8Array, path = 'publicKey'): PeerId {
  try {
    return peerIdFromPublicKey(publicKeyFromRaw(rawEd25519(publicKey, path)));
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(path, `not a usable Ed25519 public key: ${(err as Error).message}`, { cause: err });
  }
}

/** The PeerId (as a string, for `/p2p/<id>` multiaddrs) that a 32-byte seed yields. */
export async function peerIdStringFromSeed(seed: Uint8Array): Promise<string> {
  const key = await privateKeyFromSeed(seed);
  return peerIdFromPublicKey(key.publicKey).toString();
}
