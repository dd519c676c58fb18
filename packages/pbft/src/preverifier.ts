/**
 * `ProtocolDefinition.preverifier` for PBFT: lists, for a message about to be stepped, the
 * signature checks the core will make for it, so the runtime runs them on its worker pool (DESIGN
 * §10) and the core's own `verify` of the same bytes is a verified-cache hit.
 *
 * It walks the core's own checks (`MessageChecks`, message-checks.ts) with a verifier that records
 * each (key, message, signature) it is asked about and answers yes, so the bytes listed are the
 * bytes the core verifies by construction, and the walk stops wherever the core's would on a
 * structurally bad message (unknown signer, duplicate voter, a certificate out of the window …).
 * Answering yes never weakens anything: nothing here decides; the core verifies every signature
 * it relies on, through the cache, and only valid results enter the cache.
 *
 * Stateless by design (it runs before the core sees the message and must not touch its state), so
 * it lists what the core checks in the common case: a message the core then ignores (stale, a
 * retransmission, a vote past its quorum) costs one wasted pool verification per item, nothing more.
 */
import { bytesEqual, toHex } from '@phalanx/codec';
import type { ClientRequest, CoreContext, NodeId, Preverifier, RequestAuthenticator, SignedRequestGroup, Verifier, VerifyItem } from '@phalanx/interface';
import { MAX_PREVERIFY_ITEMS } from '@phalanx/interface';
import { resolveConfig } from './config.js';
import type { PbftConfig, ResolvedConfig } from './config.js';
import { KIND_CHECKPOINT, KIND_COMMIT, KIND_PREPARE, KIND_PRE_PREPARE } from './messages.js';
import type { CheckpointPart, PbftMessage, PrePrepareMsg, StateMsg, VoteMsg } from './messages.js';
import { MessageChecks, batchDigestOf, checkpointDigestOf, isBytes } from './message-checks.js';

class PreverifyOverflow extends Error {}

/** Collects verify calls, each distinct (key, message, signature) once, answering yes; at most MAX_PREVERIFY_ITEMS. */
class Recorder implements Verifier {
  items: VerifyItem[] = [];
  /** Set once more than MAX_PREVERIFY_ITEMS were asked for. */
  overflow = false;
  /** key ‖ signature (hex) → messages already listed with them. */
  private seen = new Map<string, Uint8Array[]>();

  reset(): void {
    this.items = [];
    this.overflow = false;
    this.seen = new Map();
  }

  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    // Once full, "no": a check that catches the overflow then ends its certificate at once.
    if (this.overflow || !isBytes(publicKey) || !isBytes(message) || !isBytes(signature)) return false;
    this.add({ publicKey, message, signature });
    return true;
  }

  add(item: VerifyItem): void {
    const k = `${toHex(item.publicKey)}|${toHex(item.signature)}`;
    const msgs = this.seen.get(k);
    if (msgs?.some((m) => bytesEqual(m, item.message))) return;
    if (this.items.length >= MAX_PREVERIFY_ITEMS) {
      // The first MAX_PREVERIFY_ITEMS are listed and the walk ends here (a check may catch the
      // throw: then `verify` answers no from now on, and the loops below look at `overflow`).
      this.overflow = true;
      throw new PreverifyOverflow();
    }
    if (msgs) msgs.push(item.message);
    else this.seen.set(k, [item.message]);
    this.items.push(item);
  }
}

const isObject = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object';

/**
 * Builds the preverifier for one replica from the context and config its core gets. A config the
 * core would refuse gives a preverifier that lists nothing (the hook never throws).
 */
export function pbftPreverifier(ctx: CoreContext, config: PbftConfig): Preverifier<PbftMessage> {
  let cfg: ResolvedConfig;
  const rec = new Recorder();
  let checks: MessageChecks;
  try {
    cfg = resolveConfig(config);
    checks = new MessageChecks(ctx.validators, cfg, rec);
  } catch {
    return () => [];
  }
  const auth = cfg.clientAuth;
  const groupItem = auth?.verifyItem ? listGroups(auth, rec) : undefined;

  const collect = (msg: PbftMessage, from: NodeId): void => {
    if (!isObject(msg) || !ctx.validators.has(from) || from === ctx.self) return; // the core drops these unread
    switch (msg.type) {
      case 'pre-prepare':
        return prePrepare(msg, from);
      case 'prepare':
      case 'commit':
        return vote(msg, from);
      case 'checkpoint':
        // §4.3: counted through a VoteSet, which verifies (kind, seq, 0, digest) by the voter.
        if (msg.voter !== from || typeof msg.seq !== 'bigint' || msg.seq % cfg.checkpointInterval !== 0n) return;
        checks.verifyVoteSig(KIND_CHECKPOINT, msg.voter, msg.seq, 0n, msg.digest, msg.signature);
        return;
      case 'view-change':
        // §4.4: the body signature, the checkpoint proof C and every prepared certificate in P.
        if (msg.replica !== from || typeof msg.newView !== 'bigint') return;
        checks.validateViewChange(msg);
        return;
      case 'new-view':
        // §4.4: the primary's signature, each VIEW-CHANGE of V as above, and O's pre-prepares.
        // From the primary or relayed by any replica (see the core's `viewNewView`).
        if (typeof msg.view !== 'bigint' || !Array.isArray(msg.viewChanges) || !Array.isArray(msg.prePrepares)) return;
        checks.validateNewView(msg);
        return;
      case 'fetch':
        if (typeof msg.have === 'bigint') checks.verifyBody(from, msg);
        return;
      case 'state':
        return state(msg, from);
      case 'request':
        // §4.1: relayed client requests are checked like the client's own (one check per group).
        if (groupItem && Array.isArray(msg.requests)) groupItem(msg.requests.slice(0, cfg.maxBatchSize));
        return;
      default:
        // FETCH-BATCH and BATCH are unsigned: a BATCH is judged by its digest, and the client
        // signatures of a batch NEW-VIEW assigned are not checked again (see enterView).
        return;
    }
  };

  /** §4.2: the primary's signature, then (with client authentication) each command's group. */
  const prePrepare = (m: PrePrepareMsg, from: NodeId): void => {
    if (typeof m.view !== 'bigint' || from !== checks.primaryOf(m.view)) return; // a backup's is refused unread
    checks.verifyVoteSig(KIND_PRE_PREPARE, from, m.seq, m.view, m.digest, m.signature);
    // The core refuses a batch over maxBatchSize before checking any command.
    if (groupItem && Array.isArray(m.batch) && m.batch.length <= cfg.maxBatchSize) groupItem(m.batch);
  };

  /** §4.2: PREPARE / COMMIT, counted through a VoteSet that verifies (kind, seq, view, digest) by the voter. */
  const vote = (m: VoteMsg, from: NodeId): void => {
    if (m.voter !== from || typeof m.view !== 'bigint') return;
    if (m.type === 'prepare' && from === checks.primaryOf(m.view)) return; // the primary sends no PREPARE
    checks.verifyVoteSig(m.type === 'prepare' ? KIND_PREPARE : KIND_COMMIT, from, m.seq, m.view, m.digest, m.signature);
  };

  /**
   * State transfer (TOCS §6.2): the body signature; the checkpoint proof when the piece starts a
   * transfer (offset 0: later pieces are judged against the certified hashes, not re-verified);
   * each entry's commit certificate over the digest of its batch, for at most one watermark
   * window of distinct sequence numbers (all the core would apply).
   */
  const state = (m: StateMsg, from: NodeId): void => {
    if (!Array.isArray(m.entries)) return;
    checks.verifyBody(from, m);
    const c: CheckpointPart | undefined = m.checkpoint;
    if (
      isObject(c) && c.offset === 0 && typeof c.seq === 'bigint' && c.seq % cfg.checkpointInterval === 0n &&
      c.snapshotBytes + c.clientsBytes <= cfg.maxStateBytes
    ) {
      const digest = checkpointDigestOf(checks.hasher, c.seq, c.stateDigest, c.snapshotHash, c.snapshotBytes, c.clientsHash, c.clientsBytes);
      checks.validCertificate(checks.certificate(KIND_CHECKPOINT, c.seq, 0n, digest, c.proof));
    }
    const entries = m.entries.filter((e) => isObject(e) && typeof e.seq === 'bigint' && typeof e.view === 'bigint');
    entries.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
    const done = new Set<bigint>();
    for (const e of entries) {
      if (done.size >= Number(cfg.watermarkWindow) || rec.overflow) break;
      if (done.has(e.seq) || !Array.isArray(e.batch) || e.batch.length > cfg.maxBatchSize) continue;
      done.add(e.seq);
      checks.validCertificate(checks.certificate(KIND_COMMIT, e.seq, e.view, batchDigestOf(checks.hasher, e.batch), e.commits));
    }
  };

  return (msg, from) => {
    rec.reset();
    try {
      collect(msg, from);
    } catch {
      // A malformed message (possible in-process, never after the codec): keep what was listed.
    }
    const out = rec.items;
    rec.reset();
    return out;
  };
}

/**
 * The client-group checks `clientAuth.check` makes for `requests`: one per distinct group object
 * (every command of a group points at the same object, and the authenticator verifies a group
 * once), as `verifyItem` names it.
 */
function listGroups(auth: RequestAuthenticator, rec: Recorder): (requests: readonly ClientRequest[]) => void {
  return (requests) => {
    const groups = new Set<SignedRequestGroup>();
    for (const r of requests) {
      const g = isObject(r) && isObject(r.auth) ? r.auth.group : undefined;
      if (!isObject(g) || groups.has(g)) continue;
      groups.add(g);
      let item: VerifyItem | undefined;
      try {
        item = auth.verifyItem?.(g);
      } catch {
        item = undefined;
      }
      if (item && isBytes(item.publicKey) && isBytes(item.message) && isBytes(item.signature)) rec.add(item);
    }
  };
}
