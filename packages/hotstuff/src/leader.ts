/**
 * Leader election strategies for the pacemaker (HotStuff §4.4 / §6: "LeaderElection" is left to
 * the pacemaker). A strategy is deterministic: every replica computes the same answer from the
 * same view, so the core never needs to agree on who leads.
 */
import type { Hasher, NodeId, Rng, ValidatorSet } from '@phalanx/interface';
import { ConfigError } from '@phalanx/interface';
import { signingBytes } from '@phalanx/codec';

export interface LeaderElection {
  readonly name: string;
  /**
   * The single replica expected to propose in `view`, which is also where votes of view-1 go.
   * `undefined` means there is no designated leader (e.g. proof-of-work): votes are broadcast
   * and every replica aggregates them.
   */
  leader(view: bigint): NodeId | undefined;
  /** Whether `proposer` may propose in `view` on top of `parent`, given its election proof. */
  eligible(view: bigint, proposer: NodeId, parent: Uint8Array, proof: Uint8Array): boolean;
  /**
   * This replica's election proof for `view` on top of `parent`, found with bounded work, or
   * `undefined` when it is not (or not yet) entitled to propose.
   */
  prove(view: bigint, self: NodeId, parent: Uint8Array, rng: Rng): Uint8Array | undefined;
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
