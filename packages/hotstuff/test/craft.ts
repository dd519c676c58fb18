/** Builders for hand-made blocks, QCs, TCs and proposals, to drive one core through exact rules. */
import type { ClientRequest, Signer, ValidatorSet } from '@phalanx/interface';
import { signVote } from '@phalanx/quorum';
import { blockHash, genesisQC, PROPOSAL_KIND, sha256Hasher, signatureListScheme, TIMEOUT_KIND, VOTE_KIND } from '../src/index.js';
import type { Block, HotStuffMessage, QuorumCert, TimeoutCert } from '../src/index.js';
import { fakeVerifier } from './harness.js';

export const CHAIN = 'test';

export interface Made {
  block: Block;
  hash: Uint8Array;
}

export class Crafter {
  constructor(
    readonly validators: ValidatorSet,
    readonly signers: Map<string, Signer>,
    readonly chainId = CHAIN,
    /** Who leads a view; defaults to round-robin over the validator set. */
    public leaderOf?: (view: bigint) => string,
  ) {}

  get genesis(): QuorumCert {
    return genesisQC(sha256Hasher, this.chainId);
  }

  leader(view: bigint): string {
    if (this.leaderOf) return this.leaderOf(view);
    const ids = this.validators.validators.map((v) => v.id);
    return ids[Number(view % BigInt(ids.length))]!;
  }

  block(justify: QuorumCert, view: bigint, commands: ClientRequest[] = [], proposer = this.leader(view)): Made {
    const block: Block = { parent: justify.block, height: justify.height + 1n, view, proposer, justify, election: new Uint8Array(0), commands };
    return { block, hash: blockHash(sha256Hasher, block) };
  }

  /** A QC on `m` signed by `voters` (default: the first 2f+1 validators). */
  qc(m: Made, voters = this.validators.validators.slice(0, 3).map((v) => v.id)): QuorumCert {
    const body = { kind: VOTE_KIND, height: m.block.height, round: m.block.view, digest: m.hash };
    const shares = voters.map((voter) => {
      const s = signatureListScheme({ validators: this.validators, verifier: fakeVerifier, chainId: this.chainId, signer: this.signers.get(voter)!, self: voter });
      return { voter, share: s.sign(body) };
    });
    const scheme = signatureListScheme({ validators: this.validators, verifier: fakeVerifier, chainId: this.chainId });
    return { view: m.block.view, height: m.block.height, block: m.hash, sig: scheme.combine(body, shares) };
  }

  proposal(m: Made, tc?: TimeoutCert): HotStuffMessage {
    const signature = signVote(this.signers.get(m.block.proposer)!, this.chainId, m.block.proposer, {
      kind: PROPOSAL_KIND,
      height: m.block.height,
      round: m.block.view,
      digest: m.hash,
    }).signature;
    return { type: 'proposal', block: m.block, signature, ...(tc ? { tc } : {}) };
  }

  timeout(voter: string, view: bigint, highQC: QuorumCert): HotStuffMessage {
    const signature = signVote(this.signers.get(voter)!, this.chainId, voter, { kind: TIMEOUT_KIND, height: highQC.view, round: view, digest: new Uint8Array(0) }).signature;
    return { type: 'timeout', view, highQC, signature };
  }

  tc(view: bigint, highQC: QuorumCert, voters = this.validators.validators.slice(0, 3).map((v) => v.id)): TimeoutCert {
    return {
      view,
      highQC,
      votes: voters.map((voter) => {
        const m = this.timeout(voter, view, highQC) as Extract<HotStuffMessage, { type: 'timeout' }>;
        return { voter, highQCView: highQC.view, signature: m.signature };
      }),
    };
  }

  vote(voter: string, m: Made): HotStuffMessage {
    const s = signatureListScheme({ validators: this.validators, verifier: fakeVerifier, chainId: this.chainId, signer: this.signers.get(voter)!, self: voter });
    const share = s.sign({ kind: VOTE_KIND, height: m.block.height, round: m.block.view, digest: m.hash });
    return { type: 'vote', view: m.block.view, height: m.block.height, block: m.hash, share };
  }
}
