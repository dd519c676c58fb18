/**
 * The preverifier (`ProtocolDefinition.preverifier`, DESIGN §10): for a message about to be stepped,
 * the (public key, message, signature) triples the core will hand its `Verifier`, so a runtime can
 * verify them on its worker pool first and the core's own checks become verified-cache hits.
 *
 * It lists; it never verifies, never decides, never throws. A wrong or missing item costs only
 * speed: the core still verifies every signature it relies on, and the cache remembers only items
 * that verified. Every signed body comes from the builders the core signs and verifies with
 * (`qcBody`, `proposalBody`, `timeoutBody`, `checkpointBody` in `certificates.ts`), certificates
 * from the scheme's own `verifyItems` and commit proofs from `parseCommitProof`, so the bytes
 * match by construction.
 *
 * Stateless: it cannot see what the core already verified (its QC cache, the pending pool, the
 * current view), so it may list checks the core then skips — a wasted pool verification, never a
 * wrong result. It skips what the core skips whatever its state: anything from a non-member,
 * proposals malformed before any signature (`proposalFault`), checks of this replica's own
 * signatures, and everything past an unknown or repeated voter in a certificate.
 */
import type { ClientRequest, CoreContext, NodeId, Preverifier, SignedRequestGroup, VerifyItem } from '@phalanx/interface';
import { MAX_PREVERIFY_ITEMS } from '@phalanx/interface';
import { toHex } from '@phalanx/codec';
import { voteSigningBytes } from '@phalanx/quorum';
import type { VoteBody } from '@phalanx/quorum';
import { blockHash, genesisQC, isGenesisQC } from './block.js';
import { checkpointBody, checkpointDigest, proposalBody, qcBody, timeoutBody } from './certificates.js';
import type { CertificateScheme } from './certificates.js';
import { LIMITS } from './codec.js';
import type { HotStuffConfig, ResolvedConfig } from './config.js';
import { resolveConfig } from './config.js';
import { proposalFault } from './core.js';
import { parseCommitProof } from './proof.js';
import type { CheckpointVote, HotStuffMessage, QuorumCert, TimeoutCert } from './types.js';

const isBytes = (x: unknown): x is Uint8Array => x instanceof Uint8Array;

/** Items of one message, each (key, message, signature) once. */
class Items {
  readonly list: VerifyItem[] = [];
  /** Set once more than MAX_PREVERIFY_ITEMS were asked for: the first ones are listed, the core checks the rest. */
  overflow = false;
  private readonly seen = new Set<string>();
  add(item: VerifyItem | undefined): void {
    if (!item || !isBytes(item.publicKey) || !isBytes(item.message) || !isBytes(item.signature)) return;
    const key = `${toHex(item.publicKey)}:${toHex(item.signature)}:${toHex(item.message)}`;
    if (this.seen.has(key)) return;
    if (this.list.length >= MAX_PREVERIFY_ITEMS) {
      // Stops the walk too (caught below): a relay of 65,536 one-command groups costs one group
      // message hash per listed group, so the listing must end where the list does.
      this.overflow = true;
      throw new PreverifyOverflow();
    }
    this.seen.add(key);
    this.list.push(item);
  }
}

class PreverifyOverflow extends Error {}

/** Builds the preverifier of one replica (its `ctx` and `config`, as its core gets them). */
export function hotstuffPreverifier(ctx: CoreContext, config: HotStuffConfig): Preverifier<HotStuffMessage> {
  let cfg: ResolvedConfig;
  try {
    cfg = resolveConfig(config);
  } catch {
    return () => []; // the core refuses this config too: there is nothing to step
  }
  let scheme: CertificateScheme | undefined;
  try {
    // The scheme the core builds (same factory, same parameters), only to read certificates.
    scheme = cfg.certificates({ validators: ctx.validators, verifier: ctx.verifier, chainId: cfg.chainId, signer: ctx.signer, self: ctx.self });
  } catch {
    scheme = undefined;
  }
  const { chainId, hasher } = cfg;
  const self = ctx.self;
  let genesis: QuorumCert;
  try {
    genesis = genesisQC(hasher, chainId);
  } catch {
    return () => []; // a hasher that throws: the core cannot start with it either
  }
  const keyOf = (id: NodeId): Uint8Array | undefined => ctx.validators.get(id)?.publicKey;

  /** `voter`'s signature over `body` as `verifyVote` checks it (nothing for a non-member). */
  const vote = (out: Items, voter: NodeId, body: VoteBody, signature: Uint8Array): void => {
    const publicKey = keyOf(voter);
    if (publicKey) out.add({ publicKey, message: voteSigningBytes(chainId, body), signature });
  };

  /** The shares `verifyQC` checks: none for the genesis QC, none for schemes the pool cannot run (BLS). */
  const qc = (out: Items, q: QuorumCert): void => {
    if (isGenesisQC(q, genesis) || q.view === 0n || !isBytes(q.sig) || !scheme?.verifyItems) return;
    for (const item of scheme.verifyItems(qcBody(q), q.sig)) out.add(item);
  };

  /**
   * `verifyTC`: every TIMEOUT in it (Jolteon §4: 2f+1 signed timeouts, each naming its high QC's
   * view) but our own, up to the first unknown or repeated voter, then the high QC it carries.
   */
  const tc = (out: Items, t: TimeoutCert): void => {
    const seen = new Set<NodeId>();
    const votes = t.votes.length <= LIMITS.maxValidators ? t.votes : t.votes.slice(0, LIMITS.maxValidators);
    for (const v of votes) {
      if (!keyOf(v.voter) || seen.has(v.voter)) break;
      seen.add(v.voter);
      if (v.voter !== self) vote(out, v.voter, timeoutBody(t.view, v.highQCView), v.signature);
    }
    qc(out, t.highQC);
  };

  /** `verifyCertificate` over f+1 checkpoint votes: each in order, to the first unknown or repeated voter. */
  const checkpointCert = (out: Items, height: bigint, digest: Uint8Array, votes: readonly CheckpointVote[]): void => {
    const body = checkpointBody(height, digest);
    const seen = new Set<NodeId>();
    for (const v of votes.length <= LIMITS.maxValidators ? votes : votes.slice(0, LIMITS.maxValidators)) {
      if (!keyOf(v.voter) || seen.has(v.voter)) break;
      seen.add(v.voter);
      vote(out, v.voter, body, v.signature);
    }
  };

  /**
   * Client signatures (`clientAuth.check` per command, see `addRequest` / `unsignedCommand` in
   * core.ts): one check per group object, whatever the number of its commands in the list.
   */
  const groups = (out: Items, commands: readonly ClientRequest[]): void => {
    const auth = cfg.clientAuth;
    if (!auth?.verifyItem) return;
    const seen = new Set<SignedRequestGroup>();
    for (const r of commands) {
      const g = r?.auth?.group;
      if (g === null || typeof g !== 'object' || seen.has(g) || g.client !== r.client) continue;
      seen.add(g);
      out.add(auth.verifyItem(g));
    }
  };

  const collect = (out: Items, msg: HotStuffMessage, from: NodeId): void => {
    switch (msg.type) {
      case 'proposal': {
        // onProposal (HotStuff Alg.4 onReceiveProposal): the leader's signature, the QC justifying
        // the block (b.justify), the TC that let the leader enter the view, then the clients'
        // signatures over the commands it orders.
        const b = msg.block;
        if (b.proposer !== from || proposalFault(b, msg.tc, cfg) !== undefined) return;
        if (from !== self) vote(out, from, proposalBody(b, blockHash(hasher, b)), msg.signature);
        qc(out, b.justify);
        if (msg.tc) tc(out, msg.tc);
        if (from !== self) groups(out, b.commands);
        return;
      }
      case 'vote':
        // onVote: one share of the QC being formed (Alg.4 onReceiveVote).
        if (from !== self) out.add(scheme?.shareItem?.(from, qcBody(msg), msg.share));
        return;
      case 'timeout':
        // onTimeout: the sender's signed TIMEOUT, its high QC and the TC it carries for laggards.
        if (from === self) return;
        vote(out, from, timeoutBody(msg.view, msg.highQC.view), msg.signature);
        qc(out, msg.highQC);
        if (msg.tc) tc(out, msg.tc);
        return;
      case 'status':
        if (from !== self) qc(out, msg.highQC);
        return;
      case 'requests':
        groups(out, msg.requests);
        return;
      case 'checkpoint': {
        const interval = BigInt(cfg.snapshotInterval);
        if (interval === 0n || msg.height === 0n || msg.height % interval !== 0n) return;
        const digest = checkpointDigest(hasher, msg.block, msg.state, msg.size);
        const only = msg.votes.length === 1 ? msg.votes[0]! : undefined;
        if (only && only.voter === from) vote(out, from, checkpointBody(msg.height, digest), only.signature);
        else checkpointCert(out, msg.height, digest, msg.votes);
        return;
      }
      case 'state': {
        // checkFirstPiece: f+1 checkpoint votes over (height, block, state, size), then the commit
        // proof's QCs (HotStuff §4.3 three-chain, Jolteon two-chain).
        const cert = msg.cert;
        if (!cert || msg.height % BigInt(cfg.snapshotInterval || 1) !== 0n) return;
        checkpointCert(out, msg.height, checkpointDigest(hasher, cert.block, cert.state, msg.total), cert.votes);
        const parsed = parseCommitProof(cert.proof, { chainId, commitRule: cfg.commitRule, hasher });
        for (const c of parsed.certificates) qc(out, c.qc);
        return;
      }
      default:
        // request-blocks and request-state carry no signature. A BLOCKS answer is checked by hash
        // chain from a QC already verified, never by signature (see `onBlocks` in core.ts).
        return;
    }
  };

  return (msg, from) => {
    const out = new Items();
    try {
      if (msg !== null && typeof msg === 'object' && ctx.validators.has(from)) collect(out, msg, from);
    } catch {
      // Malformed beyond what the codec lets through (or a hook of the config threw): keep what was
      // collected; the core judges the message itself.
    }
    return out.list;
  };
}
