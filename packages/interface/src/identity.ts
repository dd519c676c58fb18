/**
 * Identities. A `NodeId` is the stable name of a replica or client inside a configuration
 * ("r0", "validator-3", a libp2p peer id string — the configuration decides). It is never
 * trusted on its own: the runtime binds it to a public key and authenticates every message.
 */
export type NodeId = string;

/** A member of the validator set: who it is, how it signs, and how much its vote weighs. */
export interface Validator {
  readonly id: NodeId;
  /** Scheme-tagged public key bytes as produced by `@phalanx/crypto` (the first byte names the scheme). */
  readonly publicKey: Uint8Array;
  /** Voting power; 1 for every validator in an unweighted set. Always a positive safe integer. */
  readonly power: number;
}

/**
 * An immutable, ordered validator set. Order matters: leader rotation and bitmaps in
 * certificates index into `validators`. Build one with `createValidatorSet` from
 * `@phalanx/quorum`, which rejects duplicates, empty sets and non-positive powers.
 */
export interface ValidatorSet {
  readonly validators: readonly Validator[];
  readonly totalPower: number;
  /** The validator with this id, or undefined when it is not a member. */
  get(id: NodeId): Validator | undefined;
  /** Position of `id` in `validators`, or -1. */
  indexOf(id: NodeId): number;
  has(id: NodeId): boolean;
}
