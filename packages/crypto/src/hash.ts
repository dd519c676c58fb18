/**
 * Hashing behind `Hasher` objects that name their algorithm, so a digest is never ambiguous.
 * SHA-256 is the hot-path hash (DESIGN §5): native node:crypto by default, @noble/hashes as the
 * portable reference (tests check they agree). BLAKE3 comes from @noble/hashes (Node has none).
 */
import * as nodeCrypto from 'node:crypto';
import { blake3 } from '@noble/hashes/blake3.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { CryptoError } from '@phalanx/interface';
import type { Hasher } from '@phalanx/interface';

export type HashAlgorithm = Hasher['algorithm'];
export type HashBackend = 'native' | 'noble';

/** A Hasher that also says which implementation computes it (for benchmarks and logs). */
export interface NamedHasher extends Hasher {
  readonly backend: HashBackend;
  /** Digest length in bytes (32 for both algorithms here). */
  readonly outputLength: number;
}

function view(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

// crypto.hash (Node ≥ 20.12) skips the Hash object for one-shot digests, much cheaper on small inputs.
const oneShot = (nodeCrypto as { hash?: (alg: string, data: Uint8Array, enc: 'buffer') => Buffer }).hash;

export const sha256Native: NamedHasher = Object.freeze({
  algorithm: 'sha256',
  backend: 'native',
  outputLength: 32,
  digest: oneShot
    ? (data: Uint8Array) => view(oneShot('sha256', data, 'buffer'))
    : (data: Uint8Array) => view(nodeCrypto.createHash('sha256').update(data).digest()),
} as const);

export const sha256Noble: NamedHasher = Object.freeze({
  algorithm: 'sha256',
  backend: 'noble',
  outputLength: 32,
  digest: (data: Uint8Array) => sha256(data),
} as const);

export const blake3Noble: NamedHasher = Object.freeze({
  algorithm: 'blake3',
  backend: 'noble',
  outputLength: 32,
  digest: (data: Uint8Array) => blake3(data),
} as const);

/** The Hasher for an algorithm; SHA-256 defaults to the native path. Throws CryptoError on an unknown name. */
export function createHasher(algorithm: HashAlgorithm, backend: HashBackend = 'native'): NamedHasher {
  if (algorithm === 'sha256') return backend === 'noble' ? sha256Noble : sha256Native;
  if (algorithm === 'blake3') {
    // No native BLAKE3 in Node 20: asking for it is a configuration mistake worth reporting.
    if (backend === 'native') throw new CryptoError('no native BLAKE3 in Node; use backend "noble"');
    return blake3Noble;
  }
  throw new CryptoError(`unknown hash algorithm ${JSON.stringify(algorithm)}`);
}

/** One-shot digest with the default implementation of `algorithm`. */
export function digest(algorithm: HashAlgorithm, data: Uint8Array): Uint8Array {
  return createHasher(algorithm, algorithm === 'blake3' ? 'noble' : 'native').digest(data);
}
