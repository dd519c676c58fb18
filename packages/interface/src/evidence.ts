import type { NodeId } from './identity.js';

/**
 * A vote in the one format every BFT protocol in Phalanx signs, so certificates and evidence
 * can be checked by a third party with only the validator set (see `@phalanx/quorum`).
 */
export interface SignedVote {
  /** Protocol-qualified vote type, e.g. "pbft/commit", "hotstuff/vote", "tendermint/precommit". */
  readonly kind: string;
  readonly voter: NodeId;
  /** Position voted on: sequence number, block height. */
  readonly height: bigint;
  /** View or round the vote was cast in. */
  readonly round: bigint;
  /** What was voted for (batch or block digest). */
  readonly digest: Uint8Array;
  /** Signature over the canonical vote bytes (domain, chain id, kind, height, round, digest). */
  readonly signature: Uint8Array;
}

/** Two validly signed, conflicting votes by one voter for one (kind, height, round). */
export interface EquivocationEvidence {
  readonly voter: NodeId;
  readonly first: SignedVote;
  readonly second: SignedVote;
}
