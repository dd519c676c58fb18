/**
 * Votes, vote sets and commit certificates in one format shared by every BFT protocol, so a
 * third party can check any Phalanx certificate with only the validator set and a `Verifier`.
 */
import { CertificateError, ConfigError, DecodeError } from '@phalanx/interface';
import type { EquivocationEvidence, NodeId, SignedVote, Signer, ValidatorSet, Verifier } from '@phalanx/interface';
import {
  bytesEqual,
  decode,
  encode,
  readArray,
  readBytes,
  readMap,
  readString,
  readU64,
  signingBytes,
  toHex,
} from '@phalanx/codec';
import { quorumPower } from './thresholds.js';

const VOTE_DOMAIN = 'phalanx/vote/v1';
/** Digests are hashes; 64 bytes leaves room for any hash we use while bounding decode. */
const MAX_DIGEST = 64;
const MAX_SIGNATURE = 8192; // ML-DSA-65 + Ed25519 hybrid fits comfortably.

/** What a vote commits to, without who cast it. */
export interface VoteBody {
  readonly kind: string;
  readonly height: bigint;
  readonly round: bigint;
  readonly digest: Uint8Array;
}

/** The exact bytes a vote's signature covers. The chain id stops cross-network replay. */
export function voteSigningBytes(chainId: string, body: VoteBody): Uint8Array {
  return signingBytes(VOTE_DOMAIN, chainId, [body.kind, body.height, body.round, body.digest]);
}

export function signVote(signer: Signer, chainId: string, voter: NodeId, body: VoteBody): SignedVote {
  const signature = signer.sign(voteSigningBytes(chainId, body));
  return { kind: body.kind, voter, height: body.height, round: body.round, digest: body.digest, signature };
}

/** True iff `vote.voter` is a member and the signature is theirs. Never throws on bad input. */
export function verifyVote(vote: SignedVote, validators: ValidatorSet, verifier: Verifier, chainId: string): boolean {
  const member = validators.get(vote.voter);
  if (!member) return false;
  try {
    return verifier.verify(member.publicKey, voteSigningBytes(chainId, vote), vote.signature);
  } catch {
    return false;
  }
}

export type AddVoteResult =
  /** Counted. `power` is the power now behind this digest; `quorum` says whether it reached the threshold. */
  | { readonly status: 'added'; readonly power: number; readonly quorum: boolean }
  /** The same vote again (replay or retransmission): ignored. */
  | { readonly status: 'duplicate' }
  | { readonly status: 'rejected'; readonly reason: 'unknown-voter' | 'invalid-signature' | 'wrong-position' }
  /** A second, different vote by one voter for this position: the first stays counted. */
  | { readonly status: 'equivocation'; readonly evidence: EquivocationEvidence };

export interface VoteSetParams {
  readonly validators: ValidatorSet;
  readonly chainId: string;
  readonly kind: string;
  readonly height: bigint;
  readonly round: bigint;
  /** Checks each vote's signature; omit only when the caller already verified every vote it adds. */
  readonly verifier?: Verifier;
  /** Power needed for a quorum; defaults to more than two thirds of the total (`quorumPower`). */
  readonly threshold?: number;
}

/**
 * Collects votes for one (kind, height, round). Each voter counts once; a conflicting second vote
 * yields equivocation evidence instead of being counted (PBFT §4.2: a replica's prepare/commit is
 * counted once per sequence number and view).
 */
export class VoteSet {
  readonly threshold: number;
  private readonly byVoter = new Map<NodeId, SignedVote>();
  private readonly byDigest = new Map<string, { digest: Uint8Array; power: number; voters: NodeId[] }>();
  private readonly found: EquivocationEvidence[] = [];

  /** Voters already caught equivocating: one piece of evidence each is proof enough. */
  private readonly equivocators = new Set<NodeId>();

  constructor(private readonly params: VoteSetParams) {
    this.threshold = checkThreshold(params.threshold ?? quorumPower(params.validators.totalPower), 'VoteSet threshold');
  }

  add(vote: SignedVote): AddVoteResult {
    const p = this.params;
    if (vote.kind !== p.kind || vote.height !== p.height || vote.round !== p.round) {
      return { status: 'rejected', reason: 'wrong-position' };
    }
    const member = p.validators.get(vote.voter);
    if (!member) return { status: 'rejected', reason: 'unknown-voter' };
    const previous = this.byVoter.get(vote.voter);
    if (previous && bytesEqual(previous.digest, vote.digest)) return { status: 'duplicate' };
    if (p.verifier && !verifyVote(vote, p.validators, p.verifier, p.chainId)) {
      return { status: 'rejected', reason: 'invalid-signature' };
    }
    if (previous) {
      const evidence: EquivocationEvidence = { voter: vote.voter, first: previous, second: vote };
      // A Byzantine voter can sign any number of digests; keeping every pair would let it grow
      // this set without bound. The first pair already proves the fault.
      if (!this.equivocators.has(vote.voter)) {
        this.equivocators.add(vote.voter);
        this.found.push(evidence);
      }
      return { status: 'equivocation', evidence };
    }
    this.byVoter.set(vote.voter, vote);
    const key = toHex(vote.digest);
    let entry = this.byDigest.get(key);
    if (!entry) {
      entry = { digest: vote.digest, power: 0, voters: [] };
      this.byDigest.set(key, entry);
    }
    entry.power += member.power;
    entry.voters.push(vote.voter);
    return { status: 'added', power: entry.power, quorum: entry.power >= this.threshold };
  }

  powerFor(digest: Uint8Array): number {
    return this.byDigest.get(toHex(digest))?.power ?? 0;
  }

  votersFor(digest: Uint8Array): readonly NodeId[] {
    return this.byDigest.get(toHex(digest))?.voters ?? [];
  }

  /** Total power of everyone who voted, whatever for. */
  get votedPower(): number {
    let sum = 0;
    for (const e of this.byDigest.values()) sum += e.power;
    return sum;
  }

  /** The digest backed by a quorum, if any (at most one can be when at most f are faulty). */
  quorumDigest(): Uint8Array | undefined {
    for (const e of this.byDigest.values()) if (e.power >= this.threshold) return e.digest;
    return undefined;
  }

  /** A certificate for `digest` (default: the quorum digest) once it has a quorum. */
  certificate(digest = this.quorumDigest()): CommitCertificate | undefined {
    if (!digest) return undefined;
    const entry = this.byDigest.get(toHex(digest));
    if (!entry || entry.power < this.threshold) return undefined;
    const p = this.params;
    const votes = [...entry.voters]
      .sort((a, b) => p.validators.indexOf(a) - p.validators.indexOf(b))
      .map((voter) => ({ voter, signature: this.byVoter.get(voter)!.signature }));
    return { chainId: p.chainId, kind: p.kind, height: p.height, round: p.round, digest: entry.digest, votes };
  }

  evidence(): readonly EquivocationEvidence[] {
    return this.found;
  }
}

/** Signed votes by a quorum for one digest at one position. */
export interface CommitCertificate extends VoteBody {
  readonly chainId: string;
  readonly votes: readonly { readonly voter: NodeId; readonly signature: Uint8Array }[];
}

export interface CertificateExpectations {
  readonly chainId?: string;
  readonly kind?: string;
  readonly height?: bigint;
  /** The round/view the votes were cast in (checked only when given). */
  readonly round?: bigint;
  readonly digest?: Uint8Array;
  /** Power required; defaults to more than two thirds of the validator set's total power. */
  readonly threshold?: number;
}

/**
 * Checks a certificate offline: every voter a distinct member, every signature valid, and their
 * power at least the threshold. Throws `CertificateError` saying what is wrong.
 */
export function verifyCertificate(
  cert: CommitCertificate,
  validators: ValidatorSet,
  verifier: Verifier,
  expect: CertificateExpectations = {},
): void {
  checkShape(cert);
  if (expect.chainId !== undefined && cert.chainId !== expect.chainId) {
    throw new CertificateError(`certificate is for chain "${cert.chainId}", expected "${expect.chainId}"`);
  }
  if (expect.kind !== undefined && cert.kind !== expect.kind) {
    throw new CertificateError(`certificate is for "${cert.kind}" votes, expected "${expect.kind}"`);
  }
  if (expect.height !== undefined && cert.height !== expect.height) {
    throw new CertificateError(`certificate is for height ${cert.height}, expected ${expect.height}`);
  }
  if (expect.round !== undefined && cert.round !== expect.round) {
    throw new CertificateError(`certificate is for round ${cert.round}, expected ${expect.round}`);
  }
  if (expect.digest !== undefined && !bytesEqual(cert.digest, expect.digest)) {
    throw new CertificateError(`certificate is for digest ${toHex(cert.digest)}, expected ${toHex(expect.digest)}`);
  }
  const threshold = checkThreshold(expect.threshold ?? quorumPower(validators.totalPower), 'certificate threshold');
  if (cert.votes.length === 0) throw new CertificateError('certificate carries no votes');
  const message = voteSigningBytes(cert.chainId, cert);
  const seen = new Set<NodeId>();
  let power = 0;
  for (const { voter, signature } of cert.votes) {
    const member = validators.get(voter);
    if (!member) throw new CertificateError(`voter "${voter}" is not in the validator set`);
    if (seen.has(voter)) throw new CertificateError(`voter "${voter}" appears twice`);
    seen.add(voter);
    let ok = false;
    try {
      ok = verifier.verify(member.publicKey, message, signature);
    } catch {
      ok = false;
    }
    if (!ok) throw new CertificateError(`signature of voter "${voter}" does not verify`);
    power += member.power;
  }
  if (power < threshold) {
    throw new CertificateError(`certificate carries voting power ${power}, needs ${threshold} of ${validators.totalPower}`);
  }
}

/**
 * Protocols assemble certificates from fields of peer messages; a wrongly typed field must give
 * a `CertificateError` (which `isValidCertificate` turns into false), not a TypeError or an
 * `EncodeError` that would escape `isValidCertificate` and crash the replica.
 */
function checkShape(cert: CommitCertificate): void {
  const c = cert as unknown as Record<string, unknown> | null;
  if (typeof c !== 'object' || c === null) throw new CertificateError('certificate is not an object');
  if (typeof c.chainId !== 'string' || typeof c.kind !== 'string') throw new CertificateError('certificate chain id and kind must be strings');
  if (typeof c.height !== 'bigint' || typeof c.round !== 'bigint' || c.height < 0n || c.round < 0n || c.height >= 1n << 64n || c.round >= 1n << 64n) {
    throw new CertificateError('certificate height and round must be unsigned 64-bit bigints');
  }
  if (!(c.digest instanceof Uint8Array)) throw new CertificateError('certificate digest must be bytes');
  if (!Array.isArray(c.votes)) throw new CertificateError('certificate votes must be an array');
  for (const [i, v] of (c.votes as unknown[]).entries()) {
    const vote = v as { voter?: unknown; signature?: unknown } | null;
    if (typeof vote !== 'object' || vote === null || typeof vote.voter !== 'string' || !(vote.signature instanceof Uint8Array)) {
      throw new CertificateError(`certificate vote ${i} must be { voter: string, signature: bytes }`);
    }
  }
}

/**
 * A threshold of zero (or NaN, or a fraction) would let too little — even an empty vote list —
 * count as a quorum. That is a caller's configuration bug, so it throws `ConfigError`.
 */
function checkThreshold(threshold: number, what: string): number {
  if (!Number.isSafeInteger(threshold) || threshold < 1) {
    throw new ConfigError(what, `must be a positive integer, got ${String(threshold)}`);
  }
  return threshold;
}

/** Boolean form of `verifyCertificate`. */
export function isValidCertificate(
  cert: CommitCertificate,
  validators: ValidatorSet,
  verifier: Verifier,
  expect: CertificateExpectations = {},
): boolean {
  try {
    verifyCertificate(cert, validators, verifier, expect);
    return true;
  } catch (err) {
    if (err instanceof CertificateError) return false;
    throw err;
  }
}

/**
 * Checks equivocation evidence: two valid signatures by one member for one position and two
 * different digests. Throws `CertificateError` when the evidence proves nothing.
 */
export function verifyEvidence(e: EquivocationEvidence, validators: ValidatorSet, verifier: Verifier, chainId: string): void {
  if (typeof e !== 'object' || e === null) throw new CertificateError('evidence is not an object');
  const { first, second } = e;
  if (typeof first !== 'object' || first === null || typeof second !== 'object' || second === null) {
    throw new CertificateError('evidence needs two votes');
  }
  if (!(first.digest instanceof Uint8Array) || !(second.digest instanceof Uint8Array)) throw new CertificateError('evidence vote digests must be bytes');
  if (first.voter !== e.voter || second.voter !== e.voter) throw new CertificateError('evidence votes are by another voter');
  if (first.kind !== second.kind || first.height !== second.height || first.round !== second.round) {
    throw new CertificateError('evidence votes are for different positions');
  }
  if (bytesEqual(first.digest, second.digest)) throw new CertificateError('evidence votes agree');
  if (!verifyVote(first, validators, verifier, chainId) || !verifyVote(second, validators, verifier, chainId)) {
    throw new CertificateError('an evidence vote does not verify');
  }
}

export function encodeCertificate(cert: CommitCertificate): Uint8Array {
  return encode({
    v: 1,
    chain: cert.chainId,
    kind: cert.kind,
    height: cert.height,
    round: cert.round,
    digest: cert.digest,
    votes: cert.votes.map((x) => [x.voter, x.signature]),
  });
}

/** Decodes a certificate, bounding every field; throws `DecodeError`. Does not verify it. */
export function decodeCertificate(bytes: Uint8Array, maxVotes = 1024): CommitCertificate {
  const m = readMap(decode(bytes), 'certificate', ['v', 'chain', 'kind', 'height', 'round', 'digest', 'votes']);
  if (m.v !== 1) throw new DecodeError(`certificate: unsupported version ${String(m.v)}`);
  const votes = readArray(m.votes, 'certificate.votes', maxVotes).map((x, i) => {
    const pair = readArray(x, `certificate.votes[${i}]`);
    if (pair.length !== 2) throw new DecodeError(`certificate.votes[${i}]: expected [voter, signature]`);
    return {
      voter: readString(pair[0], `certificate.votes[${i}].voter`, 256),
      signature: readBytes(pair[1], `certificate.votes[${i}].signature`, { max: MAX_SIGNATURE }),
    };
  });
  return {
    chainId: readString(m.chain, 'certificate.chain', 256),
    kind: readString(m.kind, 'certificate.kind', 128),
    height: readU64(m.height, 'certificate.height'),
    round: readU64(m.round, 'certificate.round'),
    digest: readBytes(m.digest, 'certificate.digest', { max: MAX_DIGEST }),
    votes,
  };
}
