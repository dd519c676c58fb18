/**
 * Signature contracts. Cores call these synchronously (they are sans-I/O); the runtime may
 * pre-verify on a worker pool and hand the core a `Verifier` backed by a verified-digest cache.
 */

/** Signature schemes Phalanx knows. The scheme travels inside public keys and signatures. */
export type SignatureScheme = 'ed25519' | 'ml-dsa-44' | 'ml-dsa-65' | 'hybrid-ed25519-ml-dsa-44' | 'bls12-381';

export interface Signer {
  readonly scheme: SignatureScheme;
  /** Scheme-tagged public key bytes (what goes into a `Validator`). */
  readonly publicKey: Uint8Array;
  /** Signs `message` (already domain-separated by the caller). Returns scheme-tagged signature bytes. */
  sign(message: Uint8Array): Uint8Array;
}

export interface Verifier {
  /**
   * True iff `signature` is a valid signature by `publicKey` over `message`. Never throws on
   * malformed or wrong-scheme input: a Byzantine peer controls all three arguments.
   */
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
}

/** One item of a batch verification. */
export interface VerifyItem {
  readonly publicKey: Uint8Array;
  readonly message: Uint8Array;
  readonly signature: Uint8Array;
}

/** Verifies many signatures off the event loop (worker threads); per-item results, same order. */
export interface BatchVerifier {
  verifyBatch(items: readonly VerifyItem[]): Promise<boolean[]>;
  close(): Promise<void>;
}

/** A hash function with the name of the algorithm it uses, so digests are never ambiguous. */
export interface Hasher {
  readonly algorithm: 'sha256' | 'blake3';
  digest(data: Uint8Array): Uint8Array;
}
