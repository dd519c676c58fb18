/**
 * The signature checks PBFT makes on peer messages (Castro & Liskov, OSDI '99 §4.2–§4.4; TOCS 2002
 * §4, §6.2), in one place for the two callers that need them: the core, which verifies with the
 * runtime's verifier, and the preverifier (`preverifier.ts`), which walks the same code with a
 * verifier that only records what it is asked and answers yes. The bytes a runtime pre-verifies on
 * its worker pool are then the bytes the core verifies, by construction, not by a second copy of
 * the encoding rules that could drift.
 */
import { bytesEqual, encode, signingBytes } from '@phalanx/codec';
import type { ClientRequest, Hasher, NodeId, ValidatorSet, Verifier } from '@phalanx/interface';
import { isValidCertificate, quorumPower, voteSigningBytes } from '@phalanx/quorum';
import type { CommitCertificate } from '@phalanx/quorum';
import type { ResolvedConfig } from './config.js';
import { KIND_CHECKPOINT, KIND_PREPARE, KIND_PRE_PREPARE, SIGN_DOMAIN, batchValue, signedBody } from './messages.js';
import type { CheckpointProof, FetchMsg, NewViewMsg, PreparedCert, StateMsg, ViewChangeMsg, VoterSig } from './messages.js';
import { sha256Hasher } from './sha256.js';

/** Result of the NEW-VIEW computation (§4.4): min-s, max-s and the O set. */
export interface NewViewPlan {
  readonly minS: bigint;
  readonly maxS: bigint;
  readonly stable: CheckpointProof;
  /** Per n in (min-s, max-s]: the chosen certificate's digest (and the certificate), or the null request's. */
  readonly entries: readonly { readonly seq: bigint; readonly digest: Uint8Array; readonly cert?: PreparedCert }[];
}

/**
 * O-set computation of §4.4, as a pure function of the (already validated) VIEW-CHANGE messages:
 * min-s is the latest stable checkpoint in V, max-s the highest prepared sequence number; each
 * n in (min-s, max-s] gets the batch of the prepared certificate with the highest view, or a
 * null request when no certificate exists.
 */
export function computeNewView(vcs: readonly ViewChangeMsg[], nullBatchDigest: Uint8Array): NewViewPlan {
  let stable: CheckpointProof = vcs[0]!.stable;
  for (const vc of vcs) if (vc.stable.seq > stable.seq) stable = vc.stable;
  const minS = stable.seq;
  let maxS = minS;
  const chosen = new Map<bigint, PreparedCert>();
  for (const vc of vcs) {
    for (const p of vc.prepared) {
      const n = p.prePrepare.seq;
      if (n <= minS) continue;
      if (n > maxS) maxS = n;
      const cur = chosen.get(n);
      if (!cur || p.prePrepare.view > cur.prePrepare.view) chosen.set(n, p);
    }
  }
  const entries: { seq: bigint; digest: Uint8Array; cert?: PreparedCert }[] = [];
  for (let n = minS + 1n; n <= maxS; n++) {
    const c = chosen.get(n);
    entries.push(c ? { seq: n, digest: c.prePrepare.digest, cert: c } : { seq: n, digest: nullBatchDigest });
  }
  return { minS, maxS, stable, entries };
}

export function isBytes(x: unknown): x is Uint8Array {
  return x instanceof Uint8Array;
}

/** §4.1: the primary of view v is replica p = v mod |R| (in validator-set order). */
export function primaryIn(ids: readonly NodeId[], view: bigint): NodeId {
  return ids[Number(view % BigInt(ids.length))]!;
}

/**
 * The digest PRE-PREPARE, PREPARE, COMMIT and certificates name a batch by. It covers client,
 * seq and payload only (`batchValue`), never client signatures: a signed batch has its unsigned
 * twin's digest, unsigned batches keep the digests they always had, and a batch re-encoded with
 * its groups split differently (or fetched without them) is still the batch a quorum voted for.
 */
export function batchDigestOf(hasher: Hasher, batch: readonly ClientRequest[]): Uint8Array {
  return hasher.digest(encode(batchValue(batch)));
}

/**
 * The checkpoint digest from the hashes and sizes of the snapshot and the execution table (what a
 * state transfer announces first). The sizes are bound too: a transfer's every piece is then
 * judged against certified sizes, and a sender claiming others is provably lying.
 */
export function checkpointDigestOf(
  hasher: Hasher,
  seq: bigint,
  stateDigest: Uint8Array,
  snapshotHash: Uint8Array,
  snapshotBytes: number,
  clientsHash: Uint8Array,
  clientsBytes: number,
): Uint8Array {
  return hasher.digest(encode(['pbft/checkpoint/2', seq, stateDigest, snapshotHash, BigInt(snapshotBytes), clientsHash, BigInt(clientsBytes)]));
}

/**
 * Stateless signature checks of PBFT messages for one validator set and configuration. Every
 * method verifies through `verifier` only; nothing here depends on the replica's state.
 */
export class MessageChecks {
  readonly ids: readonly NodeId[];
  /** Power of a quorum (2f+1 with equal power; TEST ONLY overridden by `unsafeQuorumOverride`). */
  readonly quorum: number;
  readonly hasher: Hasher;
  /** The digest of the empty batch: O's null request (§4.4). */
  readonly nullDigest: Uint8Array;
  /** The checkpoint at sequence number 0, which needs no proof. */
  readonly genesisDigest: Uint8Array;

  constructor(
    readonly validators: ValidatorSet,
    private readonly cfg: ResolvedConfig,
    private readonly verifier: Verifier,
  ) {
    this.ids = validators.validators.map((v) => v.id);
    this.quorum = cfg.unsafeQuorumOverride ?? quorumPower(validators.totalPower);
    this.hasher = cfg.hasher ?? sha256Hasher;
    this.nullDigest = batchDigestOf(this.hasher, []);
    this.genesisDigest = this.hasher.digest(encode(['pbft/genesis', cfg.chainId]));
  }

  primaryOf(view: bigint): NodeId {
    return primaryIn(this.ids, view);
  }

  power(id: NodeId): number {
    return this.validators.get(id)?.power ?? 0;
  }

  /** A non-vote message's signature by `signer`: over its canonical body under the PBFT domain. */
  verifyBody(signer: NodeId, m: ViewChangeMsg | NewViewMsg | FetchMsg | StateMsg): boolean {
    const member = this.validators.get(signer);
    if (!member || !isBytes(m.signature)) return false;
    return this.verifier.verify(member.publicKey, signingBytes(SIGN_DOMAIN, this.cfg.chainId, signedBody(m)), m.signature);
  }

  /** A vote's signature (PRE-PREPARE, PREPARE, COMMIT, CHECKPOINT), in the shared `@phalanx/quorum` format. */
  verifyVoteSig(kind: string, voter: NodeId, height: bigint, round: bigint, digest: Uint8Array, signature: Uint8Array): boolean {
    const member = this.validators.get(voter);
    if (!member || !isBytes(signature) || !isBytes(digest)) return false;
    return this.verifier.verify(member.publicKey, voteSigningBytes(this.cfg.chainId, { kind, height, round, digest }), signature);
  }

  /** The certificate `votes` would make for (kind, height, round, digest) on this chain. */
  certificate(kind: string, height: bigint, round: bigint, digest: Uint8Array, votes: readonly VoterSig[]): CommitCertificate {
    return { chainId: this.cfg.chainId, kind, height, round, digest, votes };
  }

  /** Whether `cert` holds a quorum of distinct members' valid signatures (a checkpoint proof §4.3, a commit certificate). */
  validCertificate(cert: CommitCertificate): boolean {
    return isValidCertificate(cert, this.validators, this.verifier, { threshold: this.quorum });
  }

  /** Validates a VIEW-CHANGE (§4.4): signature, checkpoint proof, and every prepared certificate. Returns why not, or undefined. */
  validateViewChange(m: ViewChangeMsg): string | undefined {
    if (!this.validators.has(m.replica)) return 'unknown replica';
    if (!this.verifyBody(m.replica, m)) return 'signature';
    const st = m.stable;
    if (st.seq === 0n) {
      if (!bytesEqual(st.digest, this.genesisDigest)) return 'bad genesis checkpoint';
    } else {
      if (st.seq % this.cfg.checkpointInterval !== 0n) return 'checkpoint off the interval';
      if (!this.validCertificate(this.certificate(KIND_CHECKPOINT, st.seq, 0n, st.digest, st.votes))) return 'checkpoint proof';
    }
    let last = st.seq;
    for (const p of m.prepared) {
      const pp = p.prePrepare;
      if (pp.seq <= last || pp.seq > st.seq + this.cfg.watermarkWindow) return 'prepared certificate out of order or window';
      last = pp.seq;
      if (pp.view >= m.newView) return 'prepared certificate from a future view';
      const primary = this.primaryOf(pp.view);
      if (!this.verifyVoteSig(KIND_PRE_PREPARE, primary, pp.seq, pp.view, pp.digest, pp.signature)) return 'pre-prepare signature';
      const seen = new Set<NodeId>();
      let power = this.power(primary);
      for (const v of p.prepares) {
        if (v.voter === primary || seen.has(v.voter) || !this.validators.has(v.voter)) return 'prepare voters';
        seen.add(v.voter);
        if (!this.verifyVoteSig(KIND_PREPARE, v.voter, pp.seq, pp.view, pp.digest, v.signature)) return 'prepare signature';
        power += this.power(v.voter);
      }
      if (power < this.quorum) return 'prepared certificate lacks a quorum';
    }
    return undefined;
  }

  /** §4.4: a backup accepts NEW-VIEW only if V is valid and O is exactly what V implies. */
  validateNewView(m: NewViewMsg): string | undefined {
    if (!this.verifyBody(this.primaryOf(m.view), m)) return 'signature';
    const seen = new Set<NodeId>();
    let power = 0;
    for (const vc of m.viewChanges) {
      if (vc.newView !== m.view) return 'view-change for another view';
      if (seen.has(vc.replica)) return 'duplicate view-change';
      seen.add(vc.replica);
      const w = this.validateViewChange(vc);
      if (w) return `view-change of ${vc.replica}: ${w}`;
      power += this.power(vc.replica);
    }
    if (power < this.quorum) return 'V lacks a quorum';
    const plan = computeNewView(m.viewChanges, this.nullDigest);
    if (plan.entries.length !== m.prePrepares.length) return 'O does not match V';
    const primary = this.primaryOf(m.view);
    for (let i = 0; i < plan.entries.length; i++) {
      const want = plan.entries[i]!;
      const pp = m.prePrepares[i]!;
      if (pp.view !== m.view || pp.seq !== want.seq || !bytesEqual(pp.digest, want.digest)) return 'O does not match V';
      if (!this.verifyVoteSig(KIND_PRE_PREPARE, primary, pp.seq, pp.view, pp.digest, pp.signature)) return 'O pre-prepare signature';
    }
    return undefined;
  }
}
