/**
 * Pluggable certificates (DESIGN §5: "make the certificate scheme pluggable per protocol
 * instance"). A scheme turns votes into a QC and checks a QC offline with only the validator set.
 * The default is a list of individual signatures in the @phalanx/quorum certificate format, which
 * works with any `Signer` scheme the `Verifier` understands (Ed25519, ML-DSA, hybrid).
 */
import { CertificateError, DecodeError } from '@phalanx/interface';
import type { NodeId, Signer, ValidatorSet, Verifier } from '@phalanx/interface';
import { decode, encode, readArray, readBytes, readString } from '@phalanx/codec';
import { quorumPower, signVote, verifyCertificate, voteSigningBytes } from '@phalanx/quorum';
import type { VoteBody } from '@phalanx/quorum';
import { LIMITS } from './codec.js';

/** Vote kinds (the `kind` field of every signed body); distinct so no signature is reusable elsewhere. */
export const VOTE_KIND = 'hotstuff/vote';
export const PROPOSAL_KIND = 'hotstuff/proposal';
export const TIMEOUT_KIND = 'hotstuff/timeout';
/** A replica's word on the application state after a committed block (state transfer). */
export const CHECKPOINT_KIND = 'hotstuff/checkpoint';

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
  return {
    name: 'signature-list',
    sign(body) {
      if (!p.signer || p.self === undefined) throw new CertificateError('this certificate scheme has no signer');
      return signVote(p.signer, p.chainId, p.self, body).signature;
    },
    verifyShare(voter, body, share) {
      const member = p.validators.get(voter);
      if (!member) return false;
      try {
        return p.verifier.verify(member.publicKey, voteSigningBytes(p.chainId, body), share);
      } catch {
        return false;
      }
    },
    combine(_body, shares) {
      const sorted = [...shares].sort((a, b) => p.validators.indexOf(a.voter) - p.validators.indexOf(b.voter));
      return encode(sorted.map((s) => [s.voter, s.share]));
    },
    verify(body, cert) {
      verifyCertificate({ ...body, chainId: p.chainId, votes: decodeSignatureList(cert) }, p.validators, p.verifier, { threshold });
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
