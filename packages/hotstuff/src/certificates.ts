/**
 * Pluggable certificates (DESIGN §5: "make the certificate scheme pluggable per protocol
 * instance"). A scheme turns votes into a QC and checks a QC offline with only the validator set.
 * The default is a list of individual signatures in the @phalanx/quorum certificate format, which
 * works with any `Signer` scheme the `Verifier` understands (Ed25519, ML-DSA, hybrid).
 */
import { CertificateError, DecodeError } from '@phalanx/interface';
import type { Hasher, NodeId, Signer, ValidatorSet, Verifier, VerifyItem } from '@phalanx/interface';
import { decode, encode, readArray, readBytes, readString } from '@phalanx/codec';
import { quorumPower, signVote, verifyCertificate, voteSigningBytes } from '@phalanx/quorum';
import type { VoteBody } from '@phalanx/quorum';
import { LIMITS } from './codec.js';
import type { Block, QuorumCert } from './types.js';

/** Vote kinds (the `kind` field of every signed body); distinct so no signature is reusable elsewhere. */
export const VOTE_KIND = 'hotstuff/vote';
export const PROPOSAL_KIND = 'hotstuff/proposal';
export const TIMEOUT_KIND = 'hotstuff/timeout';
/** A replica's word on the application state after a committed block (state transfer). */
export const CHECKPOINT_KIND = 'hotstuff/checkpoint';

const EMPTY = new Uint8Array(0);

/*
 * The signed bodies, one builder each, used both where the core signs or verifies and where the
 * preverifier (`preverifier.ts`) lists the same checks: the bytes match by construction.
 */

/** A QC's votes: VOTE_KIND over (height, view, block) of the certified block (HotStuff Alg.4 L20). */
export function qcBody(qc: Pick<QuorumCert, 'view' | 'height' | 'block'>): VoteBody {
  return { kind: VOTE_KIND, height: qc.height, round: qc.view, digest: qc.block };
}

/** The leader's signature over its block (`hash` = `blockHash(b)`). */
export function proposalBody(b: Pick<Block, 'height' | 'view'>, hash: Uint8Array): VoteBody {
  return { kind: PROPOSAL_KIND, height: b.height, round: b.view, digest: hash };
}

/** A TIMEOUT for `view` naming the view of the sender's high QC (what a TC vote signs too). */
export function timeoutBody(view: bigint, highQCView: bigint): VoteBody {
  return { kind: TIMEOUT_KIND, height: highQCView, round: view, digest: EMPTY };
}

/** A checkpoint vote at `height`; `digest` is `checkpointDigest` of what it vouches for. */
export function checkpointBody(height: bigint, digest: Uint8Array): VoteBody {
  return { kind: CHECKPOINT_KIND, height, round: 0n, digest };
}

/** What a checkpoint vote signs: the committed block, the state's SHA-256 and its size in bytes. */
export function checkpointDigest(hasher: Hasher, block: Uint8Array, state: Uint8Array, size: number): Uint8Array {
  return hasher.digest(encode([block, state, size]));
}

export interface CertificateScheme {
  readonly name: string;
  /** This replica's share over `body` (throws if the scheme was built without a signer). */
  sign(body: VoteBody): Uint8Array;
  /** True iff `share` is `voter`'s valid share over `body`. Never throws. */
  verifyShare(voter: NodeId, body: VoteBody, share: Uint8Array): boolean;
  /** Certificate bytes from verified shares of distinct voters holding a quorum of power. */
  combine(body: VoteBody, shares: readonly { readonly voter: NodeId; readonly share: Uint8Array }[]): Uint8Array;
  /** Checks certificate bytes offline; throws `CertificateError` (or `DecodeError`) saying what is wrong. */
  verify(body: VoteBody, cert: Uint8Array): void;
  /**
   * Who voted in certificate bytes that `verify` accepted, in validator-set order; `undefined` when
   * the scheme cannot say (one threshold signature). Leader elections that prefer replicas seen
   * voting (`activeRoundRobin`) read it; nothing else depends on it.
   */
  signers?(cert: Uint8Array): readonly NodeId[] | undefined;
  /**
   * The signature checks `verify(body, cert)` makes through the injected `Verifier`, in its order,
   * for a runtime to run on its worker pool first (see `hotstuff.preverifier`). Lists nothing past
   * the point where `verify` would refuse without verifying (unknown or repeated voter). Absent
   * when the scheme's checks do not go through the `Verifier` (the BLS schemes: their pairings run
   * in the injected primitives, which the pool cannot run): nothing is pre-verified then. May
   * throw `DecodeError` on bytes `verify` would refuse undecoded.
   */
  verifyItems?(body: VoteBody, cert: Uint8Array): VerifyItem[];
  /** The one check `verifyShare(voter, body, share)` makes through the `Verifier`; undefined if it would refuse without one. */
  shareItem?(voter: NodeId, body: VoteBody, share: Uint8Array): VerifyItem | undefined;
}

export interface CertificateSchemeParams {
  readonly validators: ValidatorSet;
  readonly verifier: Verifier;
  readonly chainId: string;
  /** Absent for third parties that only verify. */
  readonly signer?: Signer;
  readonly self?: NodeId;
}

export type CertificateSchemeFactory = (params: CertificateSchemeParams) => CertificateScheme;

/**
 * A QC as a list of (voter, signature) pairs, checked with `verifyCertificate` from @phalanx/quorum.
 * Use it with Ed25519 (default), ML-DSA or hybrid signers: only the injected Signer/Verifier change.
 */
export const signatureListScheme: CertificateSchemeFactory = (p) => {
  const threshold = quorumPower(p.validators.totalPower);
  const shareItem = (voter: NodeId, body: VoteBody, share: Uint8Array): VerifyItem | undefined => {
    const member = p.validators.get(voter);
    return member ? { publicKey: member.publicKey, message: voteSigningBytes(p.chainId, body), signature: share } : undefined;
  };
  return {
    name: 'signature-list',
    sign(body) {
      if (!p.signer || p.self === undefined) throw new CertificateError('this certificate scheme has no signer');
      return signVote(p.signer, p.chainId, p.self, body).signature;
    },
    verifyShare(voter, body, share) {
      try {
        const item = shareItem(voter, body, share);
        return item !== undefined && p.verifier.verify(item.publicKey, item.message, item.signature);
      } catch {
        return false;
      }
    },
    shareItem,
    combine(_body, shares) {
      const sorted = [...shares].sort((a, b) => p.validators.indexOf(a.voter) - p.validators.indexOf(b.voter));
      return encode(sorted.map((s) => [s.voter, s.share]));
    },
    verify(body, cert) {
      verifyCertificate({ ...body, chainId: p.chainId, votes: decodeSignatureList(cert) }, p.validators, p.verifier, { threshold });
    },
    verifyItems(body, cert) {
      // `verifyCertificate` itself, with a verifier that records what it is asked and answers yes:
      // the same votes, in the same order, up to wherever it would refuse the certificate.
      const out: VerifyItem[] = [];
      const recorder: Verifier = { verify: (publicKey, message, signature) => (out.push({ publicKey, message, signature }), true) };
      const votes = decodeSignatureList(cert);
      try {
        verifyCertificate({ ...body, chainId: p.chainId, votes }, p.validators, recorder, { threshold });
      } catch {
        // Refused (a repeated voter, too few): what it asked for before that stands.
      }
      return out;
    },
    signers(cert) {
      const voters = new Set(decodeSignatureList(cert).map((v) => v.voter));
      return p.validators.validators.filter((v) => voters.has(v.id)).map((v) => v.id);
    },
  };
};

function decodeSignatureList(cert: Uint8Array): { voter: NodeId; signature: Uint8Array }[] {
  const items = readArray(decode(cert, { maxBytes: LIMITS.maxCertBytes, maxDepth: 3 }), 'qc.sig', LIMITS.maxValidators);
  return items.map((x, i) => {
    const pair = readArray(x, `qc.sig[${i}]`);
    if (pair.length !== 2) throw new DecodeError(`qc.sig[${i}]: expected [voter, signature]`);
    return {
      voter: readString(pair[0], `qc.sig[${i}].voter`, LIMITS.maxIdLength),
      signature: readBytes(pair[1], `qc.sig[${i}].signature`, { max: LIMITS.maxSignatureBytes }),
    };
  });
}
