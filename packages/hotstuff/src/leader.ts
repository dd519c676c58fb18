/**
 * Leader election strategies for the pacemaker (HotStuff §4.4 / §6: "LeaderElection" is left to
 * the pacemaker). A strategy is deterministic: every replica computes the same answer from the
 * same view, so the core never needs to agree on who leads.
 */
import type { Hasher, NodeId, Rng, ValidatorSet } from '@phalanx/interface';
import { ConfigError } from '@phalanx/interface';
import { signingBytes } from '@phalanx/codec';

/**
 * What every replica knows about how view v is entered when view v-1 ended with a QC: the block
 * that QC certifies, proposed in v-1, names in its own justify the voters of the view before.
 * Votes for that block are sent to the leader of v, so the leader of v must follow from the block
 * alone (not from the QC being formed). Views entered by a timeout certificate have no entry:
 * different replicas may hold different TCs for the same view, so nothing in them is common.
 */
export interface ViewEntry {
  /** Proposer of the block certified in view v-1. */
  readonly proposer: NodeId;
  /** Voters in that block's justify QC, in validator-set order; empty when unknown (genesis, threshold QC). */
  readonly voters: readonly NodeId[];
}

export interface LeaderElection {
  readonly name: string;
  /** True when the answer for a QC-entered view depends on its `ViewEntry` (the core then waits for the certified block). */
  readonly usesEntry?: boolean;
  /**
   * The single replica expected to propose in `view`, which is also where votes of view-1 go.
   * `undefined` means there is no designated leader (e.g. proof-of-work): votes are broadcast
   * and every replica aggregates them. `entry` is given iff view-1 ended with a QC whose block is known.
   */
  leader(view: bigint, entry?: ViewEntry): NodeId | undefined;
  /** Whether `proposer` may propose in `view` on top of `parent`, given its election proof. */
  eligible(view: bigint, proposer: NodeId, parent: Uint8Array, proof: Uint8Array, entry?: ViewEntry): boolean;
  /**
   * This replica's election proof for `view` on top of `parent`, found with bounded work, or
   * `undefined` when it is not (or not yet) entitled to propose.
   */
  prove(view: bigint, self: NodeId, parent: Uint8Array, rng: Rng, entry?: ViewEntry): Uint8Array | undefined;
}

export interface LeaderElectionParams {
  readonly validators: ValidatorSet;
  readonly chainId: string;
  readonly hasher: Hasher;
}

export type LeaderElectionFactory = (p: LeaderElectionParams) => LeaderElection;

const EMPTY = new Uint8Array(0);

/** Round-robin in validator-set order: leader(v) = validators[v mod n] (HotStuff §4.4 default). */
export const roundRobin: LeaderElectionFactory = ({ validators }) => {
  const ids = validators.validators.map((v) => v.id);
  const n = BigInt(ids.length);
  const leader = (view: bigint): NodeId => ids[Number(view % n)]!;
  return {
    name: 'round-robin',
    leader,
    eligible: (view, proposer, _parent, proof) => proof.length === 0 && leader(view) === proposer,
    prove: (view, self) => (leader(view) === self ? EMPTY : undefined),
  };
};

/**
 * Round-robin that passes over a replica not seen voting (leader reputation in the spirit of
 * Carousel, Cohen et al., "Be Aware of Your Leaders", FC 2022, and DiemBFT v4 §6, reduced to what
 * one block proves). For a view v entered with a QC, the round-robin leader `validators[v mod n]`
 * keeps its turn if it voted in the certified block's justify QC. Otherwise the turn goes *back*
 * to the proposer of that certified block, provided it held view v-1 by its own round-robin turn;
 * if it did not (view v-1 was itself a passed turn), the round-robin leader keeps view v. Views
 * entered by a timeout, and QCs that do not name their voters (threshold BLS), use plain
 * round-robin.
 *
 * Why: a crashed replica stops voting, so after one successful view it is never elected in a
 * QC-entered view again. Plain round-robin elects it every n-th view and each such view costs a
 * full timeout (measured on a 4-process testnet with one replica down: ~75-590 ops/s against ~10k
 * healthy).
 *
 * Why back to the proposer, not on to the next validator: the proposer has just shown it is live
 * (its block was certified), and every QC-entered proposal extends the block of the view before
 * (`proposalFault`), so the extra view continues a chain of consecutive views, which is
 * what the three-chain commit rule needs. Passing the turn forward instead hands a Byzantine
 * replica that sits after a slow honest one two views in a row (its own and the slow one's), and
 * with n = 4 that leaves at most two consecutive honest views per rotation: nothing ever commits
 * under the three-chain rule (simulator seed 0x4ea4, `chaos`).
 *
 * Why only one position, and only from a turn held by right: the proposer of the certified block
 * chose which votes its QC carries, so it can leave out any replica it likes (up to n - quorum of
 * the power). Were passed turns allowed to pass again, a Byzantine proposer could leave out the
 * next validator at every view and keep the lead for ever. As it is, a replica leads at most its
 * own view and the one after it, and only after a certified block in its own: among any n
 * consecutive QC-entered views at least n - 2f >= f+1 are led by correct replicas. The price: two
 * adjacent crashed replicas still cost a timeout each per rotation. Safety never depends on the
 * election (the voting rules alone keep it); only who proposes changes.
 */
export const activeRoundRobin: LeaderElectionFactory = ({ validators }) => {
  const ids = validators.validators.map((v) => v.id);
  const n = BigInt(ids.length);
  const leader = (view: bigint, entry?: ViewEntry): NodeId => {
    const id = ids[Number(view % n)]!;
    if (!entry || entry.voters.length === 0 || entry.voters.includes(id) || view === 0n) return id;
    // The certified block was proposed in view-1; pass back only to the holder of that turn by right.
    const previous = ids[Number((view - 1n) % n)]!;
    return entry.proposer === previous ? previous : id;
  };
  return {
    name: 'active-round-robin',
    usesEntry: true,
    leader,
    eligible: (view, proposer, _parent, proof, entry) => proof.length === 0 && leader(view, entry) === proposer,
    prove: (view, self, _parent, _rng, entry) => (leader(view, entry) === self ? EMPTY : undefined),
  };
};

export interface ProofOfWorkOptions {
  /** Leading zero bits H(chain, view, proposer, parent, nonce) must have. 0..64. */
  readonly difficultyBits: number;
  /** Hash attempts per view before a replica gives up on that view (bounds the work in one step). */
  readonly attemptsPerView: number;
}

/**
 * OPTIONAL, experimental: proof-of-work leader election. Any validator that finds a nonce with
 * `difficultyBits` leading zero bits over (chain, view, itself, parent) may propose in the view;
 * binding the parent hash stops mining ahead of time. Verification is one hash and deterministic.
 * Mining draws nonces from the injected `Rng` and stops after `attemptsPerView` attempts, so a
 * `step` stays bounded. There is no designated leader, so votes are broadcast. Several winners in
 * one view split the votes and the view times out; no winner does the same. Safety does not
 * depend on the election (the voting rule alone keeps it); liveness is probabilistic: expect about
 * n * attemptsPerView / 2^difficultyBits winners per view and tune for ≈ 1.
 */
export function proofOfWork(options: ProofOfWorkOptions): LeaderElectionFactory {
  const { difficultyBits, attemptsPerView } = options;
  if (!Number.isInteger(difficultyBits) || difficultyBits < 0 || difficultyBits > 64) {
    throw new ConfigError('leaderElection.difficultyBits', 'must be an integer in 0..64');
  }
  if (!Number.isSafeInteger(attemptsPerView) || attemptsPerView < 1 || attemptsPerView > 1_000_000) {
    throw new ConfigError('leaderElection.attemptsPerView', 'must be an integer in 1..1000000');
  }
  return ({ validators, chainId, hasher }) => {
    const ok = (view: bigint, proposer: NodeId, parent: Uint8Array, nonce: Uint8Array): boolean => {
      const h = hasher.digest(signingBytes('phalanx/hotstuff/pow/v1', chainId, [view, proposer, parent, nonce]));
      return leadingZeroBits(h) >= difficultyBits;
    };
    return {
      name: `proof-of-work(${difficultyBits})`,
      leader: () => undefined,
      eligible: (view, proposer, parent, proof) => validators.has(proposer) && proof.length === 8 && ok(view, proposer, parent, proof),
      prove: (view, self, parent, rng) => {
        for (let i = 0; i < attemptsPerView; i++) {
          const nonce = rng.bytes(8);
          if (ok(view, self, parent, nonce)) return nonce;
        }
        return undefined;
      },
    };
  };
}

export function leadingZeroBits(h: Uint8Array): number {
  let bits = 0;
  for (const byte of h) {
    if (byte === 0) {
      bits += 8;
      continue;
    }
    return bits + Math.clz32(byte) - 24;
  }
  return bits;
}
