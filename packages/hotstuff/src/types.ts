/**
 * Data types of chained HotStuff (Yin et al., PODC 2019, §4 and §5): blocks ("nodes" in the
 * paper) linked by parent hash, quorum certificates (QCs) over a block, and timeout certificates
 * (TCs) the pacemaker uses to leave a view that produced no QC (LibraBFT/Jolteon style).
 */
import type { ClientRequest, NodeId } from '@phalanx/interface';

/** 2f+1 votes for one block in one view, in whatever form the `CertificateScheme` produces. */
export interface QuorumCert {
  /** View in which the certified block was proposed. */
  readonly view: bigint;
  /** Height of the certified block (signed, so a leader can extend a block it has not seen). */
  readonly height: bigint;
  /** Hash of the certified block. */
  readonly block: Uint8Array;
  /** Scheme-specific certificate bytes; empty only for the genesis QC. */
  readonly sig: Uint8Array;
}

/** One replica's signed TIMEOUT for `view`, naming the view of the highest QC it held. */
export interface TimeoutVote {
  readonly voter: NodeId;
  readonly highQCView: bigint;
  readonly signature: Uint8Array;
}

/** 2f+1 TIMEOUTs for one view and the highest QC among them (Jolteon §4: TC carries high_qc). */
export interface TimeoutCert {
  readonly view: bigint;
  readonly highQC: QuorumCert;
  readonly votes: readonly TimeoutVote[];
}

/** A block of the chain. Its hash covers every field (commands through their digest). */
export interface Block {
  readonly parent: Uint8Array;
  readonly height: bigint;
  readonly view: bigint;
  readonly proposer: NodeId;
  /** QC for `parent` (HotStuff §5: b.justify; we require b.parent = b.justify.node). */
  readonly justify: QuorumCert;
  /** Leader-election proof (proof-of-work nonce); empty under round-robin. */
  readonly election: Uint8Array;
  readonly commands: readonly ClientRequest[];
}

export type HotStuffMessage =
  /** The leader's block for its view, signed; `tc` justifies entering the view by timeout. */
  | { readonly type: 'proposal'; readonly block: Block; readonly signature: Uint8Array; readonly tc?: TimeoutCert }
  /** A vote (certificate share) for a block, sent to the next view's leader (HotStuff Alg.4 L20). */
  | {
      readonly type: 'vote';
      readonly view: bigint;
      readonly height: bigint;
      readonly block: Uint8Array;
      readonly share: Uint8Array;
    }
  /** Pacemaker TIMEOUT for `view`, with the sender's highest QC and its latest TC (for laggards). */
  | {
      readonly type: 'timeout';
      readonly view: bigint;
      readonly highQC: QuorumCert;
      readonly signature: Uint8Array;
      readonly tc?: TimeoutCert;
    }
  /** Block sync: ask for the block with `hash` and up to `count - 1` of its ancestors. */
  | { readonly type: 'request-blocks'; readonly hash: Uint8Array; readonly count: number }
  /** Block sync answer: the requested block first, then ancestors, newest to oldest. */
  | { readonly type: 'blocks'; readonly blocks: readonly Block[] }
  /** Client commands gossiped so whichever replica leads next can propose them. */
  | { readonly type: 'requests'; readonly requests: readonly ClientRequest[] }
  /**
   * View synchronisation after a restart: "my highest QC is this" (`reply`: tell me yours if it is
   * higher). The answer lets a replica that missed the last proposals fetch and commit them.
   */
  | { readonly type: 'status'; readonly highQC: QuorumCert; readonly reply: boolean }
  /**
   * State transfer: signatures over the application state after the committed block `block` at
   * `height` (every `snapshotInterval`-th): its SHA-256 `state` and its `size` in bytes. One vote
   * as each replica stores its snapshot; f+1 matching ones make a certificate, which travels as
   * the same message with every vote.
   */
  | {
      readonly type: 'checkpoint';
      readonly height: bigint;
      readonly block: Uint8Array;
      readonly state: Uint8Array;
      readonly size: number;
      readonly votes: readonly CheckpointVote[];
    }
  /**
   * State transfer: send me the `length` bytes at `offset` of your state at `height` (0: your
   * latest). The asker names the piece size, so it can judge a source's progress by its own measure.
   */
  | { readonly type: 'request-state'; readonly height: bigint; readonly offset: number; readonly length: number }
  /**
   * State transfer answer: bytes `offset..offset + data.length` of the `total`-byte state at
   * `height`. The first piece (offset 0) carries what proves it: `cert`.
   */
  | { readonly type: 'state'; readonly height: bigint; readonly offset: number; readonly total: number; readonly data: Uint8Array; readonly cert?: StateCert };

/** One replica's signature over (height, block, state, size) of a checkpoint. */
export interface CheckpointVote {
  readonly voter: NodeId;
  readonly signature: Uint8Array;
}

/**
 * What makes a transferred state trustworthy: f+1 checkpoint votes over (height, block, state,
 * size — the STATE message's `total`), so at least one honest replica computed `state` after
 * committing `block`, and the block's commit proof (`encodeCommitProof`), which becomes the
 * receiver's committed root.
 */
export interface StateCert {
  readonly block: Uint8Array;
  readonly state: Uint8Array;
  readonly votes: readonly CheckpointVote[];
  readonly proof: Uint8Array;
}

export type CommitRule = 'three-chain' | 'two-chain';
