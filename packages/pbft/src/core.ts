/**
 * The PBFT replica as a sans-I/O core (Castro & Liskov, OSDI '99; TOCS 2002). Section numbers in
 * comments refer to the OSDI paper unless marked TOCS.
 */
import { BatchBytes, ConfigError, batchWireBytes, requestBatches, requestWireBytes, unknownClient } from '@phalanx/interface';
import type {
  ClientRequest,
  CommittedBatch,
  CoreContext,
  CoreStatus,
  EquivocationEvidence,
  Hasher,
  Input,
  LogRecord,
  MisbehaviourKind,
  NodeId,
  Outbound,
  PersistRequest,
  ProtocolCore,
  ProtocolEvent,
  Ready,
  RecoveredState,
  SignedVote,
  TimerOp,
  Verifier,
} from '@phalanx/interface';
import { bytesEqual, decode, encode, readArray, readBool, readBytes, readU64, signingBytes, toHex } from '@phalanx/codec';
import type { Value } from '@phalanx/codec';
import {
  assertBftSize,
  faultTolerance,
  voteSigningBytes,
  weakQuorumPower,
  VoteSet,
  encodeCertificate,
} from '@phalanx/quorum';
import type { CommitCertificate } from '@phalanx/quorum';
import { resolveConfig } from './config.js';
import type { PbftConfig, ResolvedConfig } from './config.js';
import { ExecTable } from './exec-table.js';
import {
  KIND_CHECKPOINT,
  KIND_COMMIT,
  KIND_PREPARE,
  KIND_PRE_PREPARE,
  SIGN_DOMAIN,
  fromValue,
  listValue,
  refOf,
  signedBody,
  toValue,
} from './messages.js';
import type {
  BatchMsg,
  CheckpointMsg,
  CheckpointProof,
  CheckpointPart,
  CommittedEntry,
  FetchBatchMsg,
  FetchMsg,
  NewViewMsg,
  PbftMessage,
  PreparedCert,
  PrePrepareMsg,
  PrePrepareRef,
  RequestMsg,
  StateMsg,
  ViewChangeMsg,
  VoteMsg,
  VoterSig,
} from './messages.js';
import { sha256Hasher } from './sha256.js';
import { MessageChecks, batchDigestOf, checkpointDigestOf, computeNewView, isBytes } from './message-checks.js';
import type { NewViewPlan } from './message-checks.js';

export { computeNewView } from './message-checks.js';
export type { NewViewPlan } from './message-checks.js';

export const TIMER_VIEW_CHANGE = 'pbft/view-change';
/** Own VIEW-CHANGEs kept for views already left (re-sent to peers still collecting them). */
const PAST_VCS = 4;
export const TIMER_BATCH = 'pbft/batch';
export const TIMER_RETRANSMIT = 'pbft/retransmit';
export const TIMER_STATUS = 'pbft/status';

const MAX_STATE_ENTRIES = 64;
/**
 * Pieces of checkpoint state served to one peer per retransmission tick. A transfer asks for one
 * at a time, so this caps an honest one at 8 MiB per tick (40 MB/s at the default 200 ms) — and
 * what a Byzantine peer can make us sign and send.
 */
const MAX_PARTS_PER_TICK = 8;
const MAX_FUTURE_PER_PEER = 1024;
const RETRANSMIT_SLOTS = 32;
/** Batches accepted per seq kept (one per view at most) for FETCH-BATCH, oldest dropped first. */
const KNOWN_PER_SEQ = 16;
const CACHE_LIMIT = 100_000;

interface Slot {
  readonly seq: bigint;
  /** View the fields below (pp, vote sets, own votes) belong to. */
  view: bigint;
  pp?: PrePrepareMsg;
  prepares: VoteSet;
  commits: VoteSet;
  myPrepare?: VoteMsg;
  myCommit?: VoteMsg;
  prepared: boolean;
  /** Highest-view prepared certificate this replica holds for the seq (§4.4, set P), with its batch. */
  best?: HeldCert;
  /**
   * The pre-prepare NEW-VIEW assigned to this seq in `view` while we do not hold its batch yet:
   * nothing is said about the seq (no PREPARE) until the batch arrives (see `wantBatch`).
   */
  awaiting?: PrePrepareRef;
  /**
   * Every batch this replica accepted a pre-prepare for at this seq, by digest, kept across views
   * until a checkpoint covers the seq: a replica that sent PREPARE for a batch must still hold it
   * when a later NEW-VIEW assigns it (it may never have prepared locally, and `pp` is reset when
   * the seq is reused in a later view). Without this one Byzantine replica holding a certificate
   * no correct replica could serve stalled every later view.
   */
  known?: Map<string, readonly ClientRequest[]>;
  committed?: { view: bigint; digest: Uint8Array; batch: readonly ClientRequest[]; cert: CommitCertificate };
  firstRecord?: bigint;
}

/** A prepared certificate as this replica keeps it: the pre-prepare with its batch. */
interface HeldCert {
  readonly prePrepare: PrePrepareMsg;
  readonly prepares: readonly VoterSig[];
}

interface Stable {
  seq: bigint;
  digest: Uint8Array;
  proof: readonly VoterSig[];
  stateDigest?: Uint8Array;
  snapshot?: Uint8Array;
  /** `hasher.digest(snapshot)`, when known (served with every piece of it). */
  snapshotHash?: Uint8Array;
  clients?: Uint8Array;
}

/** A certified checkpoint's state arriving in pieces (see `onPart`). */
interface Transfer {
  readonly seq: bigint;
  /** The checkpoint digest the proof's 2f+1 signatures cover. */
  readonly digest: Uint8Array;
  readonly proof: readonly VoterSig[];
  readonly stateDigest: Uint8Array;
  readonly snapshotHash: Uint8Array;
  readonly snapshotBytes: number;
  readonly clientsHash: Uint8Array;
  readonly clientsBytes: number;
  readonly pieces: Uint8Array[];
  received: number;
  /** `received` at the last retransmission tick: no progress for a whole tick means ask someone else. */
  receivedAtTick: number;
  /** Consecutive ticks without progress (0 while pieces flow). */
  stalledTicks: number;
  /** The peer asked for the next piece. */
  source: NodeId;
  /** Peers that sent pieces: when the assembled state is not the certified one, a single sender is to blame. */
  readonly sources: Set<NodeId>;
}

interface MyCheckpoint {
  digest: Uint8Array;
  stateDigest: Uint8Array;
  snapshot: Uint8Array;
  snapshotHash: Uint8Array;
  clients: Uint8Array;
  msg: CheckpointMsg;
}

const REC_PP = 0;
const REC_VOTE = 1;
const REC_ENTRY = 2;
/** A NEW-VIEW pre-prepare whose batch we do not hold yet: [view, seq, digest, signature]. */
const REC_ASSIGN = 3;
/** The NEW-VIEW that installed the current view, so it can be relayed after a restart (see `viewNewView`). */
const REC_NEW_VIEW = 4;

function reqKey(r: ClientRequest): string {
  return `${r.client}\u0000${r.seq}`;
}

/** Key of a verified (key, message, signature) in the core's own cache; messages over 1 KiB are not cached. */
function verifiedKey(pk: Uint8Array, msg: Uint8Array, sig: Uint8Array): string | undefined {
  return msg.length <= 1024 ? `${toHex(pk)}|${toHex(sig)}|${toHex(msg)}` : undefined;
}

export class PbftCore implements ProtocolCore<PbftMessage> {
  readonly cfg: ResolvedConfig;
  private readonly self: NodeId;
  private readonly ids: readonly NodeId[];
  private readonly n: number;
  private readonly q: number;
  private readonly weak: number;
  private readonly hasher: Hasher;
  private readonly verifier: Verifier;
  /** The signature checks of peer messages, shared with the preverifier (see message-checks.ts). */
  private readonly checks: MessageChecks;
  private readonly verifiedCache = new Set<string>();
  /** Whether one of our own signatures verified (then later ones count as verified when made). */
  private signerChecked = false;
  readonly nullDigest: Uint8Array;
  private readonly genesisDigest: Uint8Array;

  // --- replicated protocol state
  private view = 0n;
  private inViewChange = false;
  private vcAttempts = 0;
  private nextSeq = 0n;
  /**
   * The highest seq this replica, as primary of the current view, proposed or NEW-VIEW's O assigned
   * (0 otherwise): what its view-change timer waits for (see `waitingForExecution`). Not `nextSeq`,
   * which a checkpoint adopted ahead of our execution also moves (a state transfer under way).
   */
  private ownHigh = 0n;
  private lastExecuted = 0n;
  private stable: Stable;
  private readonly log = new Map<bigint, Slot>();
  /**
   * Committed batches of the last checkpoint interval below the stable checkpoint, kept after
   * garbage collection so a replica that is only a little behind catches up by replaying batches
   * (with their commit certificates) instead of fetching a whole snapshot.
   */
  private readonly recent = new Map<bigint, NonNullable<Slot['committed']>>();
  private exec = new ExecTable();
  private readonly clientsAt = new Map<bigint, Uint8Array>();
  private readonly myCheckpoints = new Map<bigint, MyCheckpoint>();
  /** Our own CHECKPOINT for the stable checkpoint, re-sent to peers still behind it. */
  private stableMsg?: CheckpointMsg;
  private readonly toldStable = new Set<NodeId>();
  private readonly checkpointVotes = new Map<bigint, VoteSet>();
  private readonly latestVc = new Map<NodeId, ViewChangeMsg>();
  /**
   * VIEW-CHANGEs for the view we are changing to from peers whose latest is for a higher one (a
   * peer that moved on re-sends its older one; see `onViewChange`). They count for this view.
   */
  private readonly olderVcs = new Map<NodeId, ViewChangeMsg>();
  private myVc?: ViewChangeMsg;
  /**
   * Our VIEW-CHANGEs of the last few views, kept after moving on: a peer still collecting 2f+1
   * for one of those views may have missed ours (see `onViewChange`).
   */
  private readonly pastVcs = new Map<bigint, ViewChangeMsg>();
  /**
   * `peer/view` of the VIEW-CHANGEs re-sent this tick: once per peer and view per tick (the
   * retransmission and status ticks renew it; at most n × PAST_VCS entries, alternating views
   * gains a peer nothing). Once for good would leave the peer stuck if that one re-send was lost
   * too: its later retransmissions, after GST, would go unanswered. `peer/new-view` marks the
   * NEW-VIEW re-sent to a peer this tick (the answer to a late VIEW-CHANGE, see `viewNewView`).
   */
  private readonly vcResentTo = new Set<string>();
  /**
   * The NEW-VIEW that installed the current view (ours as its primary, or the one we accepted);
   * undefined while changing views and in view 0. Any replica re-sends it to a peer still
   * changing to this view, not only the primary: it is self-certifying (the primary's signature
   * over 2f+1 signed VIEW-CHANGEs), and a faulty primary may send it to some replicas only, or a
   * replica may have isolated that primary. Those left behind then hold too few VIEW-CHANGEs for
   * the view (we entered it without sending one) to start their timer (TOCS §4.5.2), and too few
   * above it for the f+1 rule when the ones who entered time out, and can wait for ever
   * (byzantine.test.ts builds such a primary). Backups relay it with a backoff (see
   * `mayRelayNewView`). Durable in a log record at `index`, so a replica that restarts inside the
   * view still has it: were it the only one the NEW-VIEW reached, the others would otherwise wait
   * for ever after its restart just the same. Compaction would drop the record once every slot
   * moved past it, so it is written again at the end of the log first (at most once per stable
   * checkpoint, and only while the view lasts; see `compactPoint`).
   */
  private viewNewView?: { readonly msg: NewViewMsg; index: bigint };
  /**
   * Per peer, the NEW-VIEW relays (by a backup) of the current view: how many, and the tick before
   * which none more. The VIEW-CHANGE that asks is not validated (see `onViewChange`), and a NEW-VIEW
   * can be megabytes: once per tick from every replica, a faulty peer's few bytes a tick would buy
   * n-1 copies of it.
   */
  private readonly nvRelays = new Map<NodeId, { sent: number; next: number }>();
  /** Retransmission and status ticks so far (what `nvRelays` counts in). */
  private ticks = 0;
  private readonly pending = new Map<string, ClientRequest>();
  private readonly queue = new Map<string, ClientRequest>();
  /** Requests this backup received from clients since the last Ready, for the primary (§4.1). */
  private relayOut: ClientRequest[] = [];
  private readonly inLog = new Set<string>();
  private readonly future = new Map<NodeId, PbftMessage[]>();
  private fetchTarget?: CheckpointProof;
  private fetchRound = 0;
  private lastTickExecuted = -1n;
  private behind = false;
  private fetchedThisTick = false;
  /** Peers answered since the last retransmission/status tick: one STATE per peer per tick. */
  private readonly served = new Set<NodeId>();
  /** Pieces of checkpoint state sent per peer since the last tick (at most `MAX_PARTS_PER_TICK`). */
  private readonly partsServed = new Map<NodeId, number>();
  /** The state transfer in progress, if any. */
  private transfer?: Transfer;
  /**
   * The stable checkpoint before the current one, still served to transfers that began on it: a
   * large state may take longer to send than the next checkpoint takes to become stable.
   */
  private previousStable?: Stable;
  /** H(snapshot) and H(execution table) of the checkpoints served, computed on first request. */
  private readonly servedHashes = new Map<bigint, { snapshot: Uint8Array; clients: Uint8Array }>();
  private lastAnnounced = 0n;
  /** Set when a transfer's bytes from several senders were not the certified state (see `continueTransfer`). */
  private singleSenderTransfers = false;
  /**
   * Highest seq that had a slot at the previous retransmission tick: only slots at or below it
   * are re-sent, so a message is repeated once it went unanswered for a whole `retransmitMs`, not
   * whenever a tick happens to fall in the middle of its round. Under load a tick always finds
   * slots in flight, and re-sending each pre-prepare (a whole batch, up to `maxBatchBytes`) that
   * was a few milliseconds old doubled the primary's traffic with large requests.
   */
  private retransmitUpTo = 0n;
  /**
   * Batches NEW-VIEW assigned that we do not hold, by seq: asked of `holders` (the certificate's
   * signers first, then everyone else) one at a time, the next one on each retransmission tick.
   */
  private readonly wantBatch = new Map<bigint, { digest: Uint8Array; holders: NodeId[]; next: number }>();
  /**
   * BATCH answers per peer since the last tick: bytes (at most 8 batches' worth, what one asking
   * peer can make us send per tick) and seqs (each answered once per tick).
   */
  private readonly batchesServed = new Map<NodeId, { bytes: number; seqs: Set<bigint> }>();
  /** The view-change timer expired once already for the current requests (see onTimeout). */
  private escalated = false;
  private installingView = false;

  // --- peers
  private readonly scores = new Map<NodeId, number>();
  private readonly peerStatus = new Map<NodeId, 'ok' | 'suspected' | 'isolated'>();
  private readonly quietEvents = new Set<string>();
  private internalErrors = 0;

  // --- timers
  private vcTimerArmed = false;
  private batchTimerArmed = false;
  private batchTimerFired = false;
  private retransmitArmed = false;
  private statusArmed = false;

  // --- outputs
  private out: { send: Outbound<PbftMessage>[]; commit: CommittedBatch[]; timers: TimerOp[]; events: ProtocolEvent[] } = {
    send: [],
    commit: [],
    timers: [],
    events: [],
  };
  private outRestore?: { height: bigint; snapshot: Uint8Array };
  private records: LogRecord[] = [];
  /** Some record since the last Ready must be durable before that Ready's sends (see `record`). */
  private ownRecords = false;
  /**
   * The view this replica recovered in from storage (unset on a first start, after a clean stop,
   * and when it recovered during a view change). While it is still the current view, the replica
   * sends no PRE-PREPARE or PREPARE it holds no durable record of — see `record` for why.
   */
  private fencedView: bigint | undefined;
  /**
   * Seqs whose NEW-VIEW assignment in `fencedView` was found durable (written with the hard state
   * of entering the view, before anything of it was sent): whatever this replica said of them was
   * for that digest, and it accepts no other (§4.4), so its PREPARE, once the batch arrives, is
   * not fenced. A restored pre-prepare is not enough: a fenced replica may have accepted it after
   * the crash, for another digest than the PREPARE it lost (it never PREPAREs such a slot again).
   */
  private readonly pinned = new Set<bigint>();
  /** Stepped `stop`: the next hard state records a clean stop, and no input is taken after it. */
  private stopped = false;
  private hardDirty = false;
  private compactDirty = false;
  private nextIndex = 0n;
  private persistId = 0n;
  private replaying = false;

  constructor(
    private readonly ctx: CoreContext,
    config: PbftConfig | undefined,
    recovered?: RecoveredState,
  ) {
    this.cfg = resolveConfig(config);
    const vs = ctx.validators;
    const seenIds = new Set<string>();
    const seenKeys = new Set<string>();
    vs.validators.forEach((v, i) => {
      if (seenIds.has(v.id)) throw new ConfigError(`validators[${i}].id`, `duplicate validator id "${v.id}"`);
      const k = toHex(v.publicKey);
      if (seenKeys.has(k)) throw new ConfigError(`validators[${i}].publicKey`, 'duplicate public key');
      seenIds.add(v.id);
      seenKeys.add(k);
    });
    this.n = vs.validators.length;
    // PBFT §3: n >= 3f+1.
    assertBftSize(this.n, this.cfg.faults ?? Math.max(1, faultTolerance(this.n)));
    if (!vs.has(ctx.self)) throw new ConfigError('self', `"${ctx.self}" is not in the validator set`);
    const me = vs.get(ctx.self)!;
    if (!bytesEqual(me.publicKey, ctx.signer.publicKey)) {
      throw new ConfigError('signer.publicKey', `does not match the validator key of "${ctx.self}"`);
    }
    this.self = ctx.self;
    this.ids = vs.validators.map((v) => v.id);
    this.weak = weakQuorumPower(vs.totalPower);
    this.hasher = this.cfg.hasher ?? sha256Hasher;
    const inner = ctx.verifier;
    // Verify each distinct (message, signature) once: certificates inside VIEW-CHANGE and NEW-VIEW
    // repeat votes this replica already checked in the normal case (DESIGN §10).
    this.verifier = {
      verify: (pk, msg, sig) => {
        if (this.verifiedCache.has(verifiedKey(pk, msg, sig) ?? '')) return true;
        let ok = false;
        try {
          ok = inner.verify(pk, msg, sig);
        } catch {
          ok = false;
        }
        if (ok) this.rememberVerified(pk, msg, sig);
        return ok;
      },
    };
    this.checks = new MessageChecks(vs, this.cfg, this.verifier);
    this.q = this.checks.quorum;
    this.nullDigest = this.checks.nullDigest;
    this.genesisDigest = this.checks.genesisDigest;
    this.stable = { seq: 0n, digest: this.genesisDigest, proof: [], clients: new ExecTable().encode() };
    if (recovered) this.recover(recovered);
    // A first start writes its hard state before anything it sends (this Ready is not deferrable),
    // so a restart always finds one: a replica that finds none has never sent a vote, and needs
    // no fence (`fencedView`).
    if (!recovered?.hardState) this.hardDirty = true;
    this.emit({ type: 'leader', view: this.view, leader: this.primaryOf(this.view) });
    this.afterStep();
  }

  // ================================================================ public surface

  step(input: Input<PbftMessage>): void {
    if (this.stopped) return;
    switch (input.type) {
      case 'message':
        try {
          this.onMessage(input.from, input.msg);
        } catch (err) {
          // A malformed in-memory message (a Byzantine sim peer) must never crash an honest replica.
          this.internalErrors++;
          this.ctx.logger?.warn({ err: String(err), from: input.from }, 'pbft: message handler failed');
          if (this.ctx.validators.has(input.from)) this.penalize(input.from, 'malformed', String(err));
        }
        break;
      case 'request':
        this.onClientRequest(input.request, true);
        break;
      case 'timeout':
        this.onTimeout(input.timer);
        break;
      case 'applied':
        this.onApplied(input.height, input.stateDigest, input.snapshot, input.snapshotHash);
        break;
      case 'persisted':
        break;
      case 'stop':
        // Everything this replica sent is durable (see Input): a restart needs no fence. Recorded
        // in the hard state of one last Ready, which the runtime syncs after everything before it.
        this.stopped = true;
        this.hardDirty = true;
        return;
    }
    this.afterStep();
  }

  hasReady(): boolean {
    const o = this.out;
    return (
      this.relayOut.length > 0 || o.send.length > 0 || o.commit.length > 0 || o.timers.length > 0 || o.events.length > 0 ||
      this.records.length > 0 || this.hardDirty || this.compactDirty || this.outRestore !== undefined
    );
  }

  ready(): Ready<PbftMessage> {
    this.flushRelays();
    let persist: PersistRequest | undefined;
    if (this.records.length > 0 || this.hardDirty || this.compactDirty) {
      const p: { id: bigint; append: LogRecord[]; hardState?: Uint8Array; compactTo?: bigint } = {
        id: ++this.persistId,
        append: this.records,
      };
      // Compaction first: it may copy the NEW-VIEW record (see `compactPoint`), which moves nextIndex.
      if (this.compactDirty) p.compactTo = this.compactPoint();
      if (this.hardDirty) p.hardState = this.encodeHardState();
      // Deferrable when it records only what `record` allows to be lost: votes received from
      // peers, and this replica's own PRE-PREPARE and PREPARE. Its COMMITs, view changes, hard
      // state and compaction are durable before anything of this Ready leaves.
      persist = !this.ownRecords && !this.hardDirty && !this.compactDirty ? { ...p, deferrable: true } : p;
    }
    const r: Ready<PbftMessage> = {
      ...(persist ? { persist } : {}),
      send: this.out.send,
      ...(this.outRestore ? { restore: this.outRestore } : {}),
      commit: this.out.commit,
      timers: this.out.timers,
      events: this.out.events,
    };
    this.out = { send: [], commit: [], timers: [], events: [] };
    this.outRestore = undefined;
    this.records = [];
    this.ownRecords = false;
    this.hardDirty = false;
    this.compactDirty = false;
    return r;
  }

  status(): CoreStatus {
    return {
      protocol: 'pbft',
      node: this.self,
      view: this.view,
      leader: this.primaryOf(this.view),
      committedHeight: this.lastExecuted,
      role: this.inViewChange ? 'view-change' : this.isPrimary() ? 'primary' : 'backup',
      detail: {
        stableCheckpoint: this.stable.seq,
        lowWatermark: this.stable.seq,
        highWatermark: this.high(),
        pendingRequests: this.pending.size,
        inFlight: this.log.size,
        internalErrors: this.internalErrors,
        stateTransfer: this.fetchTarget !== undefined || this.transfer !== undefined,
        // Whether this replica holds the NEW-VIEW of its view, to relay to a peer left behind.
        newViewHeld: this.viewNewView !== undefined,
      },
    };
  }

  // ================================================================ helpers

  primaryOf(view: bigint): NodeId {
    // §4.1: the primary of view v is replica p = v mod |R|.
    return this.checks.primaryOf(view);
  }

  private isPrimary(): boolean {
    return this.primaryOf(this.view) === this.self;
  }

  /**
   * In the view recovered from storage: no new PRE-PREPARE, and no PREPARE for `seq` unless its
   * digest was durable before the crash (`pinned`). See `record`.
   */
  private fenced(seq?: bigint): boolean {
    if (this.fencedView !== this.view || this.cfg.unsafeNoRecoveryFence) return false;
    return seq === undefined || !this.pinned.has(seq);
  }

  private power(id: NodeId): number {
    return this.ctx.validators.get(id)?.power ?? 0;
  }

  private high(): bigint {
    return this.stable.seq + this.cfg.watermarkWindow;
  }

  /**
   * The digest PRE-PREPARE, PREPARE, COMMIT and certificates name a batch by. It covers client,
   * seq and payload only (`batchValue`), never client signatures: a signed batch has its unsigned
   * twin's digest, unsigned batches keep the digests they always had, and a batch re-encoded with
   * its groups split differently (or fetched without them) is still the batch a quorum voted for.
   */
  batchDigest(batch: readonly ClientRequest[]): Uint8Array {
    return batchDigestOf(this.hasher, batch);
  }

  /** The checkpoint digest binds the application digest, the snapshot bytes and the execution table. */
  checkpointDigest(seq: bigint, stateDigest: Uint8Array, snapshot: Uint8Array, clients: Uint8Array, snapshotHash?: Uint8Array): Uint8Array {
    return this.checkpointDigestOf(seq, stateDigest, this.snapshotHashOf(snapshot, snapshotHash), snapshot.length, this.hasher.digest(clients), clients.length);
  }

  /**
   * `hasher.digest(snapshot)`. `given` is SHA-256(snapshot) when the runtime computed it already
   * (see `applied`): it is taken only when this core hashes with SHA-256 too, and saves a second
   * pass over the state (0.3-0.8 s at a million KV keys, in one synchronous step).
   */
  private snapshotHashOf(snapshot: Uint8Array, given: Uint8Array | undefined): Uint8Array {
    const known = given instanceof Uint8Array && given.length === 32 && this.hasher.algorithm === 'sha256';
    return known ? given : this.hasher.digest(snapshot);
  }

  /**
   * The same digest from the hashes and sizes of the snapshot and the execution table (what a
   * state transfer announces first). The sizes are bound too: a transfer's every piece is then
   * judged against certified sizes, and a sender claiming others is provably lying.
   */
  private checkpointDigestOf(seq: bigint, stateDigest: Uint8Array, snapshotHash: Uint8Array, snapshotBytes: number, clientsHash: Uint8Array, clientsBytes: number): Uint8Array {
    return checkpointDigestOf(this.hasher, seq, stateDigest, snapshotHash, snapshotBytes, clientsHash, clientsBytes);
  }

  private emit(e: ProtocolEvent): void {
    if (!this.replaying) this.out.events.push(e);
  }

  private send(to: NodeId | 'all', msg: PbftMessage): void {
    if (!this.replaying) this.out.send.push({ to, msg });
  }

  private setTimer(id: string, ms: number): void {
    if (!this.replaying) this.out.timers.push({ op: 'set', id, ms });
  }

  private cancelTimer(id: string): void {
    if (!this.replaying) this.out.timers.push({ op: 'cancel', id });
  }

  /**
   * Appends a log record. `mayBeLost`: the Ready that carries it may send before it is durable
   * (`PersistRequest.deferrable`), because losing it in a crash is safe:
   * - A vote received from a peer: the peer holds it durably and retransmits it, and committing
   *   needs no durable record of the others' COMMITs (§4.2 committed-local is re-established after
   *   a crash by retransmission or by state transfer, §4.4/§5.3) as long as no checkpoint snapshot
   *   outlives them, which the runtime ensures.
   * - This replica's own PRE-PREPARE or PREPARE. Forgetting one is harmful only if the replica
   *   then signs a different one for the same view and sequence number: an equivocation that
   *   breaks the quorum intersection of §4.2 (prepared(m, v, n) for two digests). So a replica
   *   restarted from storage after a crash (not after a clean `stop`) sends no PRE-PREPARE or
   *   PREPARE it holds no durable record of in the view it recovered in (`fencedView`); it takes
   *   part again in the next view. Its prepared
   *   certificate is durable before it acts on it: its COMMIT and its VIEW-CHANGE are not
   *   deferrable, and their sync covers every record appended before them (§4.4 needs the
   *   certificates of the replicas that sent COMMIT). The same holds for the records of
   *   NEW-VIEW's O: entering a view writes hard state, so those are durable before they leave.
   * This moves two syncs off the normal case's critical path (the primary's before PRE-PREPARE,
   * the backups' before PREPARE); the price, after a crash, is that a restarted primary can order
   * nothing in its recovered view, which then changes (see `retransmit`).
   */
  private record(tag: number, v: Value, slot?: Slot, mayBeLost = false): void {
    if (this.replaying) return;
    if (!mayBeLost) this.ownRecords = true;
    const index = this.nextIndex++;
    this.records.push({ index, data: encode([tag, v]) });
    if (slot && slot.firstRecord === undefined) slot.firstRecord = index;
  }

  private compactPoint(): bigint {
    let min = this.nextIndex;
    for (const s of this.log.values()) if (s.firstRecord !== undefined && s.firstRecord < min) min = s.firstRecord;
    const nv = this.viewNewView;
    if (nv && nv.index < min) {
      // Written in this very Ready (the view was entered now): keep it where it is. Else copy it
      // past the cut rather than hold back the compaction of the whole view's log behind it.
      const pending = this.records.length > 0 && nv.index >= this.records[0]!.index;
      if (pending) min = nv.index;
      else this.recordNewView(nv.msg);
    }
    return min;
  }

  /** `nv` becomes the current view's NEW-VIEW, in a log record of its own (see `viewNewView`). */
  private recordNewView(nv: NewViewMsg): void {
    this.viewNewView = { msg: nv, index: this.nextIndex };
    this.record(REC_NEW_VIEW, toValue(nv));
  }

  private rememberVerified(pk: Uint8Array, msg: Uint8Array, sig: Uint8Array): void {
    const key = verifiedKey(pk, msg, sig);
    if (key === undefined) return;
    if (this.verifiedCache.size >= CACHE_LIMIT) this.verifiedCache.clear();
    this.verifiedCache.add(key);
  }

  /**
   * Signs `bytes` with our key and counts the signature as verified: our own PREPAREs, COMMITs and
   * CHECKPOINTs enter our vote sets (and come back inside certificates) like anyone's, and checking
   * what we just signed would cost an Ed25519 verification per vote on the event loop for nothing.
   */
  private signOwn(bytes: Uint8Array): Uint8Array {
    const signature = this.ctx.signer.sign(bytes);
    // The first one is checked all the same: a signer that makes bad signatures (a broken key
    // file, a remote signer out of step) would otherwise have its votes counted here alone.
    if (!this.signerChecked) {
      if (!this.verifier.verify(this.ctx.signer.publicKey, bytes, signature)) return signature;
      this.signerChecked = true;
    }
    this.rememberVerified(this.ctx.signer.publicKey, bytes, signature);
    return signature;
  }

  private signVoteMsg(type: 'prepare' | 'commit', view: bigint, seq: bigint, digest: Uint8Array): VoteMsg {
    const kind = type === 'prepare' ? KIND_PREPARE : KIND_COMMIT;
    const signature = this.signOwn(voteSigningBytes(this.cfg.chainId, { kind, height: seq, round: view, digest }));
    return { type, voter: this.self, view, seq, digest, signature };
  }

  private signPrePrepare(view: bigint, seq: bigint, batch: readonly ClientRequest[], digest = this.batchDigest(batch)): PrePrepareMsg {
    const signature = this.signOwn(voteSigningBytes(this.cfg.chainId, { kind: KIND_PRE_PREPARE, height: seq, round: view, digest }));
    return { type: 'pre-prepare', view, seq, digest, batch, signature };
  }

  private signBody<T extends ViewChangeMsg | NewViewMsg | FetchMsg | StateMsg>(m: Omit<T, 'signature'>): T {
    const withEmpty = { ...m, signature: new Uint8Array(0) } as T;
    const signature = this.signOwn(signingBytes(SIGN_DOMAIN, this.cfg.chainId, signedBody(withEmpty)));
    return { ...withEmpty, signature };
  }

  private verifyBody(signer: NodeId, m: ViewChangeMsg | NewViewMsg | FetchMsg | StateMsg): boolean {
    return this.checks.verifyBody(signer, m);
  }

  private verifyVoteSig(kind: string, voter: NodeId, height: bigint, round: bigint, digest: Uint8Array, signature: Uint8Array): boolean {
    return this.checks.verifyVoteSig(kind, voter, height, round, digest, signature);
  }

  private asVote(kind: string, voter: NodeId, m: { view?: bigint; seq: bigint; digest: Uint8Array; signature: Uint8Array }): SignedVote {
    return { kind, voter, height: m.seq, round: m.view ?? 0n, digest: m.digest, signature: m.signature };
  }

  private newVoteSet(kind: string, seq: bigint, view: bigint, threshold: number): VoteSet {
    return new VoteSet({
      validators: this.ctx.validators,
      chainId: this.cfg.chainId,
      kind,
      height: seq,
      round: view,
      verifier: this.verifier,
      threshold: Math.max(1, threshold),
    });
  }

  /** The slot for `seq`, reset to the current view if it holds an older view's messages. */
  private slot(seq: bigint, view = this.view): Slot {
    let s = this.log.get(seq);
    if (!s) {
      s = {
        seq,
        view,
        prepares: this.newVoteSet(KIND_PREPARE, seq, view, this.q - this.power(this.primaryOf(view))),
        commits: this.newVoteSet(KIND_COMMIT, seq, view, this.q),
        prepared: false,
      };
      this.log.set(seq, s);
    } else if (s.view < view) {
      s.view = view;
      s.pp = undefined;
      s.awaiting = undefined;
      s.myPrepare = undefined;
      s.myCommit = undefined;
      s.prepared = false;
      s.prepares = this.newVoteSet(KIND_PREPARE, seq, view, this.q - this.power(this.primaryOf(view)));
      s.commits = this.newVoteSet(KIND_COMMIT, seq, view, this.q);
    }
    return s;
  }

  // ================================================================ misbehaviour accounting

  private penalize(peer: NodeId, kind: MisbehaviourKind, detail: string): void {
    if (this.replaying) return;
    const quiet = kind === 'stale' || kind === 'future';
    if (quiet) {
      // Stale and future messages are normal under delay: report each kind once per peer per checkpoint.
      const key = `${peer}|${kind}`;
      if (this.quietEvents.has(key)) return;
      this.quietEvents.add(key);
    }
    this.emit({ type: 'misbehaviour', peer, kind, detail });
    if (quiet || !this.ctx.validators.has(peer)) return;
    const weight = kind === 'equivocation' ? this.cfg.isolateAfter : 1;
    const score = (this.scores.get(peer) ?? 0) + weight;
    this.scores.set(peer, score);
    const status = this.peerStatus.get(peer) ?? 'ok';
    if (score >= this.cfg.isolateAfter && status !== 'isolated') {
      // Dropping a peer's messages can only cost liveness, and only if more than f peers are
      // dropped: cap isolation at f so a quorum of the rest can always still form.
      const isolated = [...this.peerStatus.values()].filter((s) => s === 'isolated').length;
      const f = faultTolerance(this.n);
      if (isolated < f) {
        this.peerStatus.set(peer, 'isolated');
        this.emit({ type: 'peer-status', peer, status: 'isolated' });
        return;
      }
    }
    if (score >= this.cfg.suspectAfter && status === 'ok') {
      this.peerStatus.set(peer, 'suspected');
      this.emit({ type: 'peer-status', peer, status: 'suspected' });
    }
  }

  private evidence(e: EquivocationEvidence): void {
    this.emit({ type: 'evidence', evidence: e });
    this.penalize(e.voter, 'equivocation', `${e.first.kind} at seq ${e.first.height} view ${e.first.round}`);
  }

  // ================================================================ dispatch

  private onMessage(from: NodeId, msg: PbftMessage): void {
    if (!this.ctx.validators.has(from)) {
      const key = `${from}|unknown`;
      if (!this.quietEvents.has(key)) {
        this.quietEvents.add(key);
        this.emit({ type: 'misbehaviour', peer: from, kind: 'unknown-sender', detail: 'not a validator' });
      }
      return;
    }
    if (from === this.self) return;
    if (this.peerStatus.get(from) === 'isolated') return;
    if (msg === null || typeof msg !== 'object') {
      this.penalize(from, 'malformed', 'not a message object');
      return;
    }
    switch (msg.type) {
      case 'request':
        return this.onRequestMsg(from, msg);
      case 'pre-prepare':
        return this.onPrePrepare(from, msg);
      case 'prepare':
      case 'commit':
        return this.onVote(from, msg);
      case 'checkpoint':
        return this.onCheckpoint(from, msg);
      case 'view-change':
        return this.onViewChange(from, msg);
      case 'new-view':
        return this.onNewView(from, msg);
      case 'fetch':
        return this.onFetch(from, msg);
      case 'state':
        return this.onState(from, msg);
      case 'fetch-batch':
        return this.onFetchBatch(from, msg);
      case 'batch':
        return this.onBatch(from, msg);
      default:
        this.penalize(from, 'malformed', 'unknown message type');
    }
  }

  /** Messages for a view this replica has not entered yet are kept (bounded) and replayed on entry. */
  private bufferFuture(from: NodeId, msg: PbftMessage): void {
    let q = this.future.get(from);
    if (!q) {
      q = [];
      this.future.set(from, q);
    }
    if (q.length >= MAX_FUTURE_PER_PEER) q.shift();
    q.push(msg);
  }

  // ================================================================ requests (§4.1)

  private validRequest(r: ClientRequest): boolean {
    return (
      r !== null && typeof r === 'object' && typeof r.client === 'string' && r.client.length > 0 && r.client.length <= 256 &&
      typeof r.seq === 'bigint' && r.seq >= 0n && r.seq < 1n << 64n && isBytes(r.payload) &&
      r.payload.length <= this.cfg.maxPayloadBytes
    );
  }

  /**
   * Why `config.clientAuth` refuses `r` (it is not from `r.client`), or undefined when it passes or
   * clients are not authenticated. A throwing authenticator (a malformed `auth` from an in-memory
   * peer) counts as a refusal.
   */
  private clientAuthError(r: ClientRequest): string | undefined {
    const auth = this.cfg.clientAuth;
    if (!auth) return undefined;
    try {
      return auth.check(r);
    } catch (err) {
      return `client check failed: ${String(err)}`;
    }
  }

  /**
   * `propose: false` lets a caller queue many requests and then propose once (fuller batches).
   * Returns why client authentication refused `r` (the caller decides whom that blames), else undefined.
   */
  private onClientRequest(r: ClientRequest, direct: boolean, propose = true): string | undefined {
    if (!this.validRequest(r)) {
      this.ctx.logger?.debug({ client: String(r?.client) }, 'pbft: dropped an invalid client request');
      return undefined;
    }
    // §4.1: a request already executed is not executed again (the runtime re-sends the reply).
    if (this.exec.has(r.client, r.seq)) return undefined;
    const key = reqKey(r);
    if (this.pending.has(key)) return undefined;
    if (this.pending.size >= this.cfg.maxPendingRequests) return undefined;
    // Only commands their clients signed enter the pool (after the cheap checks above: a duplicate
    // costs no signature check, and everything pending passed this one). Checked before `pending`
    // takes it: a forged (client, seq) admitted first would shut out the genuine command as a duplicate.
    const refused = this.clientAuthError(r);
    if (refused !== undefined) {
      // From the runtime this is not misbehaviour of a replica: it verifies at admission, so only a
      // client (or a stale key directory) can be at fault. Relays are blamed by onRequestMsg.
      if (direct) this.ctx.logger?.debug({ client: r.client, seq: String(r.seq), why: refused }, 'pbft: dropped an unauthenticated client request');
      return refused;
    }
    // Never reached for unsigned requests (maxBatchBytes >= maxPayloadBytes + 1 KiB); a signed one
    // counts its group, and one that cannot fit a batch on its own would make the primary propose
    // a batch every backup refuses as oversized.
    if (requestWireBytes(r) > this.cfg.maxBatchBytes) {
      this.ctx.logger?.debug({ client: r.client, seq: String(r.seq) }, 'pbft: dropped a request larger than a batch');
      return undefined;
    }
    this.pending.set(key, r);
    if (!this.inLog.has(key)) this.queue.set(key, r);
    if (this.isPrimary() && !this.inViewChange) {
      if (propose) this.maybePropose();
      // Proposing armed it; a primary fenced after a crash proposes nothing and arms it here.
      this.armIfWaiting();
      return undefined;
    }
    // §4.1: a backup forwards a client's request to the primary; §4.5.2: and starts its timer
    // (also for requests other backups relayed: it is now waiting for them to execute too).
    if (direct && !this.inViewChange) this.relayOut.push(r);
    if (!this.vcTimerArmed && !this.inViewChange) this.armVcTimer();
    return undefined;
  }

  private onRequestMsg(from: NodeId, m: RequestMsg): void {
    // The sender is a validator on an authenticated channel (see RequestMsg); each request is
    // checked like a client's own, so a relay can add requests to the queue but nothing more.
    for (let i = 0; i < m.requests.length; i++) {
      const why = this.onClientRequest(m.requests[i]!, false, false);
      // A client we do not know costs no signature check and proves nothing against the relay.
      if (why === undefined || this.unknownClient(m.requests[i]!)) continue;
      // An honest replica relays only commands that passed the same check (what clients gave it,
      // or what it holds pending), so a refused one was made up or altered by the relay: blame it
      // and drop the rest of the message unread. Checking on would let one frame of thousands of
      // one-command signed groups cost as many signature verifications (HotStuff does the same).
      this.penalize(from, 'invalid-signature', `relayed request ${i} that its client did not sign (${why}); ${m.requests.length - i - 1} more dropped unread`);
      break;
    }
    this.maybePropose();
  }

  /** §4.1: requests clients sent to this backup go to the primary, all of one Ready in one message. */
  private flushRelays(): void {
    const out = this.relayOut;
    if (out.length === 0) return;
    this.relayOut = [];
    if (this.isPrimary() || this.inViewChange) return; // the primary queued them itself; a new one gets them on retransmission
    this.sendRequests(this.primaryOf(this.view), out);
  }

  /** Relays `requests` in messages of at most one batch each, by count and by bytes. */
  private sendRequests(to: NodeId | 'all', requests: readonly ClientRequest[]): void {
    for (const part of requestBatches(requests, this.cfg.maxBatchSize, this.cfg.maxBatchBytes)) this.send(to, { type: 'request', requests: part });
  }

  /** Whether a batch received from a peer stays within one batch's count and bytes, all requests valid. */
  private validBatch(batch: unknown): batch is readonly ClientRequest[] {
    if (!Array.isArray(batch) || batch.length > this.cfg.maxBatchSize) return false;
    const requests = batch as ClientRequest[];
    return requests.every((r) => this.validRequest(r)) && batchWireBytes(requests) <= this.cfg.maxBatchBytes;
  }

  /** §4.2 + batching (§5.1): the primary assigns sequence numbers within the watermarks. */
  private maybePropose(): void {
    if (!this.isPrimary() || this.inViewChange || this.installingView || this.fenced()) return;
    while (this.queue.size > 0 && this.nextSeq + 1n <= this.high() && this.nextSeq >= this.stable.seq) {
      const inFlight = this.nextSeq - this.lastExecuted;
      const full = this.queue.size >= this.cfg.maxBatchSize;
      // §5.1 batching. Without a batch timer a partial batch leaves only when nothing is in
      // flight: at light load at once, under load requests pile up while one batch is ordered and
      // leave together, so batches grow with the load instead of the load splitting into many
      // small instances, each paying its own signatures, syncs and messages. Full batches are
      // pipelined regardless.
      const partialMayGo = this.cfg.batchTimeoutMs === 0 ? inFlight === 0n : this.batchTimerFired;
      const mayGo = inFlight < BigInt(this.cfg.pipelineDepth) && partialMayGo;
      if (!full && !mayGo) break;
      const batch: ClientRequest[] = [];
      // Cut by bytes too: a pre-prepare must fit the transport's frame (config: maxBatchBytes).
      // Counted as the backups' `validBatch` counts (`batchWireBytes`): each signed group once per
      // batch, as the codec writes it. Counting each command with its whole group
      // (`requestWireBytes`) cut batches of one client's signed commands up to 128× too early.
      const bytes = new BatchBytes();
      for (const [key, r] of this.queue) {
        if (batch.length > 0 && bytes.total + bytes.cost(r) > this.cfg.maxBatchBytes) break;
        this.queue.delete(key);
        if (this.inLog.has(key) || this.exec.has(r.client, r.seq)) continue;
        batch.push(r);
        bytes.add(r);
        if (batch.length >= this.cfg.maxBatchSize) break;
      }
      if (batch.length === 0) break;
      this.propose(batch);
      this.batchTimerFired = false;
    }
    if (this.queue.size > 0 && this.cfg.batchTimeoutMs > 0 && !this.batchTimerArmed) {
      this.batchTimerArmed = true;
      this.setTimer(TIMER_BATCH, this.cfg.batchTimeoutMs);
    }
  }

  private propose(batch: readonly ClientRequest[]): void {
    if (!this.vcTimerArmed) this.armVcTimer(); // see `waitingForExecution`
    const seq = ++this.nextSeq;
    this.ownHigh = seq;
    const pp = this.signPrePrepare(this.view, seq, batch);
    const s = this.slot(seq);
    s.pp = pp;
    this.remember(s, pp);
    for (const r of batch) this.inLog.add(reqKey(r));
    this.record(REC_PP, toValue(pp), s, true);
    this.send('all', pp);
    this.checkPrepared(s);
  }

  // ================================================================ normal case (§4.2)

  private inWindow(from: NodeId, seq: bigint): boolean {
    // §4.2: accept only h < n <= H.
    if (seq <= this.stable.seq) {
      this.penalize(from, 'stale', `seq ${seq} at or below the low watermark ${this.stable.seq}`);
      return false;
    }
    if (seq > this.high()) {
      this.penalize(from, 'future', `seq ${seq} above the high watermark ${this.high()}`);
      this.behind = true;
      return false;
    }
    return true;
  }

  private onPrePrepare(from: NodeId, m: PrePrepareMsg): void {
    if (m.view < this.view) return this.penalize(from, 'stale', `pre-prepare for view ${m.view}`);
    if (m.view > this.view || this.inViewChange) return this.bufferFuture(from, m);
    if (from !== this.primaryOf(m.view)) return this.penalize(from, 'protocol-violation', 'pre-prepare from a backup');
    if (!this.inWindow(from, m.seq)) return;
    const s = this.slot(m.seq);
    if (s.pp) {
      if (bytesEqual(s.pp.digest, m.digest)) return; // retransmission
      if (this.verifyVoteSig(KIND_PRE_PREPARE, from, m.seq, m.view, m.digest, m.signature)) {
        // §4.2: a backup accepts at most one pre-prepare per (v, n); two signed ones prove the primary faulty.
        this.evidence({
          voter: from,
          first: this.asVote(KIND_PRE_PREPARE, from, s.pp),
          second: this.asVote(KIND_PRE_PREPARE, from, m),
        });
        this.startViewChange(this.view + 1n, 'primary equivocated');
      } else {
        this.penalize(from, 'invalid-signature', 'pre-prepare');
      }
      return;
    }
    if (s.awaiting && !bytesEqual(s.awaiting.digest, m.digest)) {
      // NEW-VIEW already assigned this seq another batch: the primary signed both.
      if (this.verifyVoteSig(KIND_PRE_PREPARE, from, m.seq, m.view, m.digest, m.signature)) {
        this.evidence({ voter: from, first: this.asVote(KIND_PRE_PREPARE, from, s.awaiting), second: this.asVote(KIND_PRE_PREPARE, from, m) });
        this.startViewChange(this.view + 1n, 'primary equivocated');
      } else {
        this.penalize(from, 'invalid-signature', 'pre-prepare');
      }
      return;
    }
    if (!this.validBatch(m.batch)) return this.penalize(from, 'protocol-violation', 'pre-prepare batch out of bounds');
    if (!bytesEqual(this.batchDigest(m.batch), m.digest)) return this.penalize(from, 'protocol-violation', 'batch digest mismatch');
    if (!this.verifyVoteSig(KIND_PRE_PREPARE, from, m.seq, m.view, m.digest, m.signature)) {
      return this.penalize(from, 'invalid-signature', 'pre-prepare');
    }
    // §4.2: a backup accepts a pre-prepare only if "the signatures in the request and the
    // pre-prepare message are correct". Without this a Byzantine primary orders commands no client
    // sent and every honest backup executes them. Not for a batch NEW-VIEW already assigned this
    // seq (`s.awaiting`, same digest, checked above): see enterView for why those are not re-checked.
    if (!s.awaiting) {
      const refused = this.refusedCommand(m.batch);
      if (refused !== undefined) {
        // Handled like any other invalid pre-prepare: blamed, not accepted, nothing recorded, no
        // PREPARE — so the forged command can never gather a prepared certificate. The batch's
        // genuine commands are waited for like relayed requests, which runs this backup's
        // view-change timer (§4.5.2): either this primary orders them in a valid pre-prepare or
        // the view changes, even when the clients sent them to the primary alone.
        if (refused.unknown) this.ctx.logger?.warn({ from, view: String(m.view), seq: String(m.seq), why: refused.why }, 'pbft: refused a pre-prepare with a command of a client this replica does not know (client directories out of step?)');
        else this.penalize(from, 'invalid-signature', `pre-prepare ${m.view}/${m.seq}: ${refused.why}`);
        for (const r of m.batch) this.onClientRequest(r, false, false); // refuses the forged ones again
        return;
      }
    }
    this.acceptPrePrepare(s, m);
  }

  /**
   * Why some command of `batch` fails client authentication, or undefined if all pass (or it is
   * off); `unknown` when that command's client is missing from our directory (see `unknownClient`).
   */
  private refusedCommand(batch: readonly ClientRequest[]): { why: string; unknown: boolean } | undefined {
    if (!this.cfg.clientAuth) return undefined;
    for (const r of batch) {
      const why = this.clientAuthError(r);
      if (why !== undefined) return { why, unknown: this.unknownClient(r) };
    }
    return undefined;
  }

  /**
   * A command of a client our directory lacks: refused, but not the sender's fault for sure (see
   * `unknownClient` in @phalanx/interface). The view-change timer still covers a primary that
   * proposes such commands on purpose.
   */
  private unknownClient(r: ClientRequest): boolean {
    return unknownClient(this.cfg.clientAuth, r);
  }

  private acceptPrePrepare(s: Slot, pp: PrePrepareMsg): void {
    s.pp = pp;
    this.remember(s, pp);
    s.awaiting = undefined;
    this.wantBatch.delete(s.seq);
    for (const r of pp.batch) {
      const k = reqKey(r);
      this.inLog.add(k);
      this.queue.delete(k);
    }
    this.record(REC_PP, toValue(pp), s, true);
    if (this.primaryOf(pp.view) !== this.self && !s.myPrepare && !this.fenced(s.seq)) {
      // §4.2: a backup that accepts the pre-prepare multicasts PREPARE. Not in its recovered view:
      // it may have sent another one before a crash (`record`). Without it this backup can still
      // become prepared on 2f PREPAREs of the others, and send its COMMIT.
      const p = this.signVoteMsg('prepare', pp.view, pp.seq, pp.digest);
      s.myPrepare = p;
      s.prepares.add(this.asVote(KIND_PREPARE, this.self, p));
      this.record(REC_VOTE, toValue(p), s, true);
      this.send('all', p);
    }
    this.checkPrepared(s);
  }

  private onVote(from: NodeId, m: VoteMsg): void {
    if (m.voter !== from) return this.penalize(from, 'protocol-violation', `${m.type} signed for another voter`);
    if (m.view < this.view) return;
    if (m.view > this.view || this.inViewChange) return this.bufferFuture(from, m);
    if (!this.inWindow(from, m.seq)) return;
    if (m.type === 'prepare' && from === this.primaryOf(m.view)) {
      return this.penalize(from, 'protocol-violation', 'the primary sent a PREPARE');
    }
    const s = this.slot(m.seq);
    // A vote past its quorum, for the digest the quorum certified, changes nothing: the certificate
    // this slot keeps (`best` for a view change, `committed.cert` for clients and recovery) is
    // already complete. With n = 4 that is one PREPARE and one COMMIT of every three a replica
    // receives: each would cost a signature check and a log record for nothing. A late vote for
    // another digest is still checked: from a replica that voted for the certified one, it is
    // equivocation evidence, whenever it comes.
    const certified = m.type === 'prepare' ? (s.prepared ? s.pp?.digest : undefined) : s.committed?.digest;
    if (certified && bytesEqual(certified, m.digest)) return;
    const kind = m.type === 'prepare' ? KIND_PREPARE : KIND_COMMIT;
    const res = (m.type === 'prepare' ? s.prepares : s.commits).add(this.asVote(kind, from, m));
    switch (res.status) {
      case 'duplicate':
        return;
      case 'rejected':
        return this.penalize(from, res.reason === 'invalid-signature' ? 'invalid-signature' : 'protocol-violation', `${m.type}: ${res.reason}`);
      case 'equivocation':
        return this.evidence(res.evidence);
      case 'added':
        this.record(REC_VOTE, toValue(m), s, true);
        if (m.type === 'prepare') this.checkPrepared(s);
        else this.checkCommitted(s);
    }
  }

  /** §4.2 prepared(m, v, n, i): the pre-prepare plus 2f matching PREPAREs from distinct backups. */
  private checkPrepared(s: Slot): void {
    if (!s.pp || s.prepared) return;
    const need = this.q - this.power(this.primaryOf(s.view));
    if (s.prepares.powerFor(s.pp.digest) < need) return;
    s.prepared = true;
    const cert = s.prepares.certificate(s.pp.digest);
    s.best = { prePrepare: s.pp, prepares: cert ? cert.votes : [] };
    if (!s.myCommit) {
      const c = this.signVoteMsg('commit', s.view, s.seq, s.pp.digest);
      s.myCommit = c;
      s.commits.add(this.asVote(KIND_COMMIT, this.self, c));
      this.record(REC_VOTE, toValue(c), s);
      this.send('all', c);
    }
    this.checkCommitted(s);
  }

  /** §4.2 committed-local(m, v, n, i): prepared plus 2f+1 matching COMMITs (own included). */
  private checkCommitted(s: Slot): void {
    if (!s.pp || !s.prepared || s.committed) return;
    if (s.commits.powerFor(s.pp.digest) < this.q) return;
    const cert = s.commits.certificate(s.pp.digest);
    if (!cert) return;
    s.committed = { view: s.view, digest: s.pp.digest, batch: s.pp.batch, cert };
    this.tryExecute();
  }

  /** §4.2: execute in sequence order, each batch only after every lower one. */
  private tryExecute(): void {
    let progressed = false;
    for (;;) {
      const s = this.log.get(this.lastExecuted + 1n);
      if (!s || !s.committed) break;
      this.execute(s.seq, s.committed.batch, s.committed.cert);
      progressed = true;
    }
    if (!progressed) return;
    if (this.fetchTarget && this.lastExecuted >= this.fetchTarget.seq) this.fetchTarget = undefined;
    this.vcAttempts = 0; // §4.5.2: progress in this view resets the backoff.
    this.escalated = false;
    // §4.5.2: stop the timer when no request is waiting, restart it when another one still is.
    if (this.waitingForExecution() && !this.inViewChange) this.armVcTimer();
    else if (this.vcTimerArmed && !this.inViewChange) {
      this.vcTimerArmed = false;
      this.cancelTimer(TIMER_VIEW_CHANGE);
    }
    this.maybePropose();
  }

  private execute(seq: bigint, batch: readonly ClientRequest[], cert: CommitCertificate, silent = false): void {
    const requests: ClientRequest[] = [];
    for (const r of batch) {
      const k = reqKey(r);
      this.pending.delete(k);
      this.queue.delete(k);
      this.inLog.delete(k);
      // A request can be ordered twice (re-proposed after a view change): run it once.
      if (this.exec.has(r.client, r.seq)) continue;
      this.exec.add(r.client, r.seq);
      requests.push(r);
    }
    this.lastExecuted = seq;
    if (this.nextSeq < seq) this.nextSeq = seq;
    const checkpoint = seq % this.cfg.checkpointInterval === 0n;
    if (checkpoint) this.clientsAt.set(seq, this.exec.encode());
    if (silent) return;
    const out: CommittedBatch = { height: seq, requests, proof: encodeCertificate(cert), ...(checkpoint ? { reportState: true } : {}) };
    this.out.commit.push(out);
  }

  // ================================================================ checkpoints (§4.3)

  private onApplied(height: bigint, stateDigest: Uint8Array, snapshot: Uint8Array | undefined, snapshotHash: Uint8Array | undefined): void {
    if (height % this.cfg.checkpointInterval !== 0n || height > this.lastExecuted || !isBytes(stateDigest)) return;
    const snap = snapshot ?? new Uint8Array(0);
    const st = this.stable;
    const stableClients = height === st.seq && !st.snapshot ? st.clients : undefined;
    if (!stableClients && (height <= st.seq || this.myCheckpoints.has(height))) return;
    // Once, here: the checkpoint digest and every piece served in a state transfer carry it. A hash
    // given without the snapshot itself is not the empty snapshot's.
    const snapHash = this.snapshotHashOf(snap, snapshot ? snapshotHash : undefined);
    if (stableClients) {
      // The checkpoint became stable (through a NEW-VIEW) before our application reported it:
      // keep the state if it is the one 2f+1 replicas signed, so we can serve state transfer.
      if (bytesEqual(this.checkpointDigest(height, stateDigest, snap, stableClients, snapHash), st.digest)) {
        this.stable = { ...st, stateDigest, snapshot: snap, snapshotHash: snapHash };
        this.hardDirty = true;
      }
      return;
    }
    const clients = this.clientsAt.get(height);
    if (!clients) return;
    const digest = this.checkpointDigest(height, stateDigest, snap, clients, snapHash);
    const signature = this.signOwn(voteSigningBytes(this.cfg.chainId, { kind: KIND_CHECKPOINT, height, round: 0n, digest }));
    const msg: CheckpointMsg = { type: 'checkpoint', voter: this.self, seq: height, digest, signature };
    this.myCheckpoints.set(height, { digest, stateDigest, snapshot: snap, snapshotHash: snapHash, clients, msg });
    this.emit({ type: 'checkpoint', height, stateDigest });
    this.send('all', msg);
    this.checkpointSet(height).add(this.asVote(KIND_CHECKPOINT, this.self, msg));
    this.checkStable(height);
  }

  private checkpointSet(seq: bigint): VoteSet {
    let s = this.checkpointVotes.get(seq);
    if (!s) {
      s = this.newVoteSet(KIND_CHECKPOINT, seq, 0n, this.q);
      this.checkpointVotes.set(seq, s);
    }
    return s;
  }

  private onCheckpoint(from: NodeId, m: CheckpointMsg): void {
    if (m.voter !== from) return this.penalize(from, 'protocol-violation', 'checkpoint signed for another voter');
    if (m.seq <= this.stable.seq) {
      // The peer is still trying to stabilise a checkpoint we garbage-collected: show it ours,
      // so it collects a stable proof beyond its state and starts a state transfer (§4.3).
      const own = this.stableMsg;
      if (m.seq < this.stable.seq && own && !this.toldStable.has(from)) {
        this.toldStable.add(from);
        this.send(from, own);
      }
      return;
    }
    if (m.seq % this.cfg.checkpointInterval !== 0n) return this.penalize(from, 'protocol-violation', 'checkpoint off the interval');
    if (m.seq > this.lastExecuted + 64n * this.cfg.watermarkWindow) return this.penalize(from, 'future', `checkpoint ${m.seq}`);
    const res = this.checkpointSet(m.seq).add(this.asVote(KIND_CHECKPOINT, from, m));
    if (res.status === 'rejected') return this.penalize(from, 'invalid-signature', 'checkpoint');
    if (res.status === 'equivocation') return this.evidence(res.evidence);
    if (res.status === 'added') this.checkStable(m.seq);
  }

  /** §4.3: a checkpoint with 2f+1 matching signed CHECKPOINTs is stable. */
  private checkStable(seq: bigint): void {
    if (seq <= this.stable.seq) return;
    const set = this.checkpointVotes.get(seq);
    const digest = set?.quorumDigest();
    if (!set || !digest) return;
    const proof = set.certificate(digest)!.votes;
    const mine = this.myCheckpoints.get(seq);
    if (mine && bytesEqual(mine.digest, digest)) {
      this.makeStable({ seq, digest, proof, stateDigest: mine.stateDigest, snapshot: mine.snapshot, snapshotHash: mine.snapshotHash, clients: mine.clients });
    } else if (mine || this.lastExecuted < seq) {
      // Either we are behind, or our state diverged from a quorum's: fetch the agreed state (§4.3, TOCS §6.2).
      if (mine) this.ctx.logger?.error({ seq: String(seq) }, 'pbft: local checkpoint differs from the stable one');
      this.setFetchTarget({ seq, digest, votes: proof });
    }
  }

  private makeStable(cp: Stable): void {
    if (cp.seq <= this.stable.seq) return;
    if (this.stable.snapshot) this.previousStable = this.stable;
    for (const k of this.servedHashes.keys()) if (k < this.stable.seq) this.servedHashes.delete(k);
    this.stable = cp;
    this.stableMsg = this.myCheckpoints.get(cp.seq)?.msg;
    this.toldStable.clear();
    // §4.3: discard log entries and checkpoints at or below the stable one; move the watermarks.
    for (const [k, slot] of this.log) {
      if (k > cp.seq) continue;
      if (slot.committed && k > cp.seq - this.cfg.checkpointInterval) this.recent.set(k, slot.committed);
      this.log.delete(k);
    }
    for (const k of this.recent.keys()) if (k <= cp.seq - this.cfg.checkpointInterval) this.recent.delete(k);
    for (const k of this.checkpointVotes.keys()) if (k <= cp.seq) this.checkpointVotes.delete(k);
    for (const k of this.myCheckpoints.keys()) if (k <= cp.seq) this.myCheckpoints.delete(k);
    for (const k of this.clientsAt.keys()) if (k <= cp.seq) this.clientsAt.delete(k);
    if (this.fetchTarget && this.fetchTarget.seq <= cp.seq && this.lastExecuted >= cp.seq) this.fetchTarget = undefined;
    if (this.nextSeq < cp.seq) this.nextSeq = cp.seq;
    this.quietEvents.clear();
    this.hardDirty = true;
    this.compactDirty = true;
    this.maybePropose();
  }

  // ================================================================ state transfer (TOCS §6.2, simplified)

  private setFetchTarget(t: CheckpointProof): void {
    if (this.fetchTarget && this.fetchTarget.seq >= t.seq) return;
    this.fetchTarget = t;
    this.emit({ type: 'state-transfer', phase: 'started', height: t.seq });
    this.sendFetch();
  }

  private sendFetch(): void {
    const t = this.fetchTarget;
    const voters = (t ? t.votes.map((v) => v.voter) : this.ids).filter((id) => id !== this.self);
    if (voters.length === 0) return;
    const to = t ? voters[this.fetchRound++ % voters.length]! : voters[this.ctx.rng.nextInt(voters.length)]!;
    this.send(to, this.signBody<FetchMsg>({ type: 'fetch', have: this.lastExecuted }));
  }

  private onFetch(from: NodeId, m: FetchMsg): void {
    if (typeof m.have !== 'bigint') return this.penalize(from, 'malformed', 'fetch');
    if (!this.verifyBody(from, m)) return this.penalize(from, 'invalid-signature', 'fetch');
    if (m.part) return this.servePart(from, m.part.seq, m.part.offset);
    if (m.have > this.lastExecuted && !this.fetchedThisTick) {
      // The peer is ahead of us: ask it (once per retransmission period) for what we missed.
      this.fetchedThisTick = true;
      this.behind = true;
      this.send(from, this.signBody<FetchMsg>({ type: 'fetch', have: this.lastExecuted }));
    }
    if (m.have >= this.lastExecuted) return;
    // A peer (maybe Byzantine) cannot make us stream state faster than once per tick.
    if (this.cfg.statusIntervalMs > 0) {
      if (this.served.has(from)) return;
      this.served.add(from);
    }
    const st = this.stable;
    const committedAt = (s: bigint) => this.log.get(s)?.committed ?? this.recent.get(s);
    if (m.have < st.seq && !committedAt(m.have + 1n)) {
      // Behind our stable checkpoint and the batches we kept: it needs the checkpoint's state,
      // which goes piece by piece; the batches after it follow once it asks again from there.
      return this.servePart(from, st.seq, 0);
    }
    // Up to MAX_STATE_ENTRIES batches, in STATEs of about `stateChunkBytes` each: 64 batches of
    // large commands in one frame would exceed the transport's limit and be dropped, and the peer
    // would never catch up.
    let entries: CommittedEntry[] = [];
    let bytes = 0;
    for (let s = m.have + 1n, n = 0; s <= this.lastExecuted && n < MAX_STATE_ENTRIES; s++, n++) {
      const c = committedAt(s);
      if (!c) break;
      // As the codec writes it: with each signed group once (up to 4 KiB of digests per group).
      const size = batchWireBytes(c.batch);
      if (entries.length > 0 && bytes + size > this.cfg.stateChunkBytes) {
        this.send(from, this.signBody<StateMsg>({ type: 'state', entries }));
        entries = [];
        bytes = 0;
      }
      bytes += size;
      entries.push({ view: c.view, seq: s, batch: c.batch, commits: c.cert.votes });
    }
    if (entries.length > 0) this.send(from, this.signBody<StateMsg>({ type: 'state', entries }));
  }

  /**
   * Sends the piece of checkpoint `seq`'s state (snapshot ‖ execution table) that starts at
   * `offset`. A checkpoint we no longer keep is answered with our stable one from its start, so a
   * transfer that fell behind moves on to it.
   */
  private servePart(to: NodeId, seq: bigint, offset: number): void {
    const kept = (c: Stable | undefined): c is Stable & { snapshot: Uint8Array; clients: Uint8Array; stateDigest: Uint8Array } =>
      c !== undefined && c.seq > 0n && c.snapshot !== undefined && c.clients !== undefined && c.stateDigest !== undefined;
    let cp: Stable | undefined = seq === this.stable.seq ? this.stable : seq === this.previousStable?.seq ? this.previousStable : undefined;
    if (!kept(cp)) {
      if (seq >= this.stable.seq) return;
      cp = this.stable;
      offset = 0;
    }
    if (!kept(cp)) return;
    const total = cp.snapshot.length + cp.clients.length;
    if (offset > total || (offset === total && total > 0)) return;
    const n = this.partsServed.get(to) ?? 0;
    if (n >= MAX_PARTS_PER_TICK) return;
    this.partsServed.set(to, n + 1);
    let hashes = this.servedHashes.get(cp.seq);
    if (!hashes) {
      hashes = { snapshot: cp.snapshotHash ?? this.hasher.digest(cp.snapshot), clients: this.hasher.digest(cp.clients) };
      this.servedHashes.set(cp.seq, hashes);
    }
    const snap = cp.snapshot.length;
    const chunk = this.cfg.stateChunkBytes;
    // A piece never spans the snapshot and the table: each is a subarray, no copy.
    const data = offset < snap ? cp.snapshot.subarray(offset, Math.min(snap, offset + chunk)) : cp.clients.subarray(offset - snap, offset - snap + chunk);
    const checkpoint: CheckpointPart = {
      seq: cp.seq,
      stateDigest: cp.stateDigest,
      snapshotHash: hashes.snapshot,
      snapshotBytes: snap,
      clientsHash: hashes.clients,
      clientsBytes: cp.clients.length,
      proof: cp.proof,
      offset,
      data,
    };
    this.send(to, this.signBody<StateMsg>({ type: 'state', checkpoint, entries: [] }));
  }

  private onState(from: NodeId, m: StateMsg): void {
    if (!Array.isArray(m.entries)) return this.penalize(from, 'malformed', 'state');
    if (!this.verifyBody(from, m)) return this.penalize(from, 'invalid-signature', 'state');
    if (m.checkpoint && m.checkpoint.seq > this.lastExecuted && !this.onPart(from, m.checkpoint)) return;
    const entries = [...m.entries].sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
    for (const e of entries) {
      if (e.seq <= this.lastExecuted || e.seq > this.high()) continue;
      if (!Array.isArray(e.batch) || e.batch.length > this.cfg.maxBatchSize || !e.batch.every((r: ClientRequest) => this.validRequest(r))) {
        return this.penalize(from, 'protocol-violation', 'state entry batch');
      }
      // Client signatures are not checked here: 2f+1 replicas committed this batch, so at least
      // f+1 honest ones accepted its pre-prepare and checked them (see enterView).
      const digest = this.batchDigest(e.batch);
      const cert = this.checks.certificate(KIND_COMMIT, e.seq, e.view, digest, e.commits);
      if (!this.checks.validCertificate(cert)) {
        return this.penalize(from, 'protocol-violation', `state entry ${e.seq} lacks a commit certificate`);
      }
      const s = this.log.get(e.seq) ?? this.slot(e.seq);
      if (!s.committed) {
        s.committed = { view: e.view, digest, batch: e.batch, cert };
        this.record(REC_ENTRY, [e.view, e.seq, listValue(e.batch), e.commits.map((v: VoterSig) => [v.voter, v.signature])], s);
      }
    }
    this.tryExecute();
  }

  /**
   * One piece of a checkpoint's state (TOCS §6.2 fetches state in partitions; we fetch one blob in
   * pieces). The first piece of a transfer is accepted only with a valid 2f+1 checkpoint
   * certificate over the digest its hashes and sizes determine — before anything more is asked
   * for or buffered; the assembled bytes are checked against those hashes at the end. A newer
   * certified checkpoint replaces a transfer that stalled. Returns false if the message is refused.
   */
  private onPart(from: NodeId, c: CheckpointPart): boolean {
    let t = this.transfer;
    if (t && t.seq <= this.lastExecuted) t = this.transfer = undefined; // overtaken by execution
    // A newer checkpoint replaces a transfer only once that transfer stalled for a tick: under load
    // a checkpoint becomes stable every few seconds, and starting over at each one would never
    // finish a state that takes longer than that to move (servers keep the previous one too).
    // And then only from the replica asked (the signer rotated to): a peer that made the transfer
    // stall must not take it over again with a newer checkpoint it sent ahead.
    if (t && c.seq > t.seq && (t.stalledTicks === 0 || from !== t.source)) return true;
    if (!t || c.seq > t.seq) {
      if (c.offset !== 0) return true; // a piece of a transfer we are not in (e.g. abandoned)
      const total = c.snapshotBytes + c.clientsBytes;
      if (total > this.cfg.maxStateBytes) {
        this.penalize(from, 'protocol-violation', `checkpoint state of ${total} bytes exceeds maxStateBytes`);
        return false;
      }
      const digest = this.checkpointDigestOf(c.seq, c.stateDigest, c.snapshotHash, c.snapshotBytes, c.clientsHash, c.clientsBytes);
      if (c.seq % this.cfg.checkpointInterval !== 0n || !this.checks.validCertificate(this.checks.certificate(KIND_CHECKPOINT, c.seq, 0n, digest, c.proof))) {
        this.penalize(from, 'protocol-violation', 'state does not match a stable checkpoint');
        return false;
      }
      if (this.fetchTarget?.seq !== c.seq) this.emit({ type: 'state-transfer', phase: 'started', height: c.seq });
      const { offset: _o, data: _d, ...meta } = c;
      t = this.transfer = { ...meta, digest, pieces: [], received: 0, receivedAtTick: 0, stalledTicks: 0, source: from, sources: new Set() };
    } else if (c.seq < t.seq) {
      return true; // a piece of a transfer we gave up for a newer checkpoint
    } else if (
      c.snapshotBytes !== t.snapshotBytes || c.clientsBytes !== t.clientsBytes ||
      !bytesEqual(c.stateDigest, t.stateDigest) || !bytesEqual(c.snapshotHash, t.snapshotHash) || !bytesEqual(c.clientsHash, t.clientsHash)
    ) {
      // 2f+1 signed one digest over these hashes and sizes for this checkpoint; a piece claiming
      // others is forged.
      this.penalize(from, 'protocol-violation', 'state piece of another checkpoint state');
      return false;
    }
    // Only from the replica asked, and only the next piece: anything else is a duplicate (we asked
    // again after a quiet tick) or a late answer from one asked before — or a Byzantine peer
    // slipping bytes into an honest transfer so that no single sender can be blamed for it.
    if (from !== t.source || c.offset !== t.received) return true;
    const total = t.snapshotBytes + t.clientsBytes;
    if ((c.data.length === 0 && total > 0) || c.offset + c.data.length > total) {
      this.penalize(from, 'malformed', 'state piece out of bounds');
      return false;
    }
    // A copy: the piece is a view into its decoded frame, which it would otherwise keep alive.
    t.pieces.push(c.data.slice());
    t.received += c.data.length;
    t.sources.add(from);
    if (t.received < total) this.askPart(t);
    else this.finishTransfer(t);
    return true;
  }

  /** Each retransmission tick: ask for the next piece again, from another signer if none came since the last tick. */
  private continueTransfer(t: Transfer): void {
    const total = t.snapshotBytes + t.clientsBytes;
    // Progress is at least one piece of our own size (or the rest) per tick: a source that trickles
    // a byte at a time counts as stalled.
    const wanted = Math.min(total - t.receivedAtTick, this.cfg.stateChunkBytes);
    if (t.received - t.receivedAtTick < wanted) {
      // Stalled for a tick (the peer crashed, is slow, withholds, or a message was lost): ask
      // another replica that signed the checkpoint; honest ones all hold the same state. The
      // pieces so far are kept — unless an earlier attempt assembled bytes from several senders
      // that were not the certified state (nobody could be blamed): then every attempt has a
      // single sender, starting over from the beginning, until one succeeds.
      t.stalledTicks++;
      const others = t.proof.map((v) => v.voter).filter((id) => id !== this.self && id !== t.source);
      if (others.length > 0) {
        t.source = others[this.fetchRound++ % others.length]!;
        if (this.singleSenderTransfers) {
          t.pieces.length = 0;
          t.received = 0;
          t.sources.clear();
        }
      }
    } else {
      t.stalledTicks = 0;
    }
    t.receivedAtTick = t.received;
    this.askPart(t);
  }

  private askPart(t: Transfer): void {
    this.send(t.source, this.signBody<FetchMsg>({ type: 'fetch', have: this.lastExecuted, part: { seq: t.seq, offset: t.received } }));
  }

  private finishTransfer(t: Transfer): void {
    this.transfer = undefined;
    const all = new Uint8Array(t.received);
    let at = 0;
    for (const p of t.pieces) {
      all.set(p, at);
      at += p.length;
    }
    const snapshot = all.subarray(0, t.snapshotBytes);
    const clients = all.subarray(t.snapshotBytes);
    let table: ExecTable | undefined;
    if (bytesEqual(this.hasher.digest(snapshot), t.snapshotHash) && bytesEqual(this.hasher.digest(clients), t.clientsHash)) {
      try {
        table = ExecTable.decode(clients);
      } catch {
        // Certified by 2f+1 yet unreadable: cannot come from honest replicas; treated as a bad transfer.
      }
    }
    if (!table) {
      // Bytes that are not the certified state. With a single sender we know who lied; either way
      // the next attempt starts over with a signer that sent none of them.
      if (t.sources.size === 1) this.penalize([...t.sources][0]!, 'protocol-violation', 'state does not match its certified checkpoint');
      else this.singleSenderTransfers = true;
      const others = t.proof.map((v) => v.voter).filter((id) => id !== this.self && !t.sources.has(id));
      if (others.length === 0) return this.sendFetch();
      const to = others[this.fetchRound++ % others.length]!;
      this.send(to, this.signBody<FetchMsg>({ type: 'fetch', have: this.lastExecuted, part: { seq: t.seq, offset: 0 } }));
      return;
    }
    this.singleSenderTransfers = false;
    this.restoreCheckpoint({ seq: t.seq, digest: t.digest, proof: t.proof, stateDigest: t.stateDigest, snapshot, snapshotHash: t.snapshotHash, clients }, table);
    // The batches committed after the checkpoint, from the replica that had its state.
    this.send(t.source, this.signBody<FetchMsg>({ type: 'fetch', have: this.lastExecuted }));
  }

  private restoreCheckpoint(cp: Stable, table: ExecTable): void {
    // Batches not yet handed out at or below the snapshot are covered by it (heights stay consecutive).
    this.out.commit = this.out.commit.filter((b) => b.height > cp.seq);
    this.outRestore = { height: cp.seq, snapshot: cp.snapshot! };
    this.exec = table;
    this.lastExecuted = cp.seq;
    for (const [k, r] of this.pending) {
      if (table.has(r.client, r.seq)) {
        this.pending.delete(k);
        this.queue.delete(k);
      }
    }
    if (cp.seq === this.stable.seq) {
      // Already our stable checkpoint (adopted from a NEW-VIEW) but without its state: now we have it.
      this.stable = { ...this.stable, ...cp, snapshotHash: cp.snapshotHash };
      this.hardDirty = true;
    } else {
      this.makeStable(cp);
    }
    if (this.fetchTarget && this.fetchTarget.seq <= cp.seq) this.fetchTarget = undefined;
    this.emit({ type: 'state-transfer', phase: 'completed', height: cp.seq });
    this.tryExecute();
  }

  // ================================================================ view change (§4.4, §4.5.2)

  private vcTimeout(): number {
    const base = this.cfg.viewChangeTimeoutMs;
    const exp = Math.min(30, Math.max(0, this.vcAttempts - 1));
    return Math.min(this.cfg.maxViewChangeTimeoutMs, base * 2 ** exp);
  }

  private armVcTimer(): void {
    this.vcTimerArmed = true;
    this.setTimer(TIMER_VIEW_CHANGE, this.vcTimeout());
  }

  /**
   * What the view-change timer waits for (§4.5.2): at a backup, any request it holds; at the
   * primary, its own proposals of this view (or NEW-VIEW's O) that have not executed yet. The
   * primary runs the timer too: one whose view cannot order (its backups moved on, or a faulty one
   * among them holds back) must leave it, or it may wait for ever for f+1 VIEW-CHANGEs that never
   * come (sim partition+byzantine-restarts seed 0x148f: with one faulty replica, an honest primary
   * alone in view v, another in v+1 and the third changing to v+2 all waited). Only proposals
   * count, not requests it holds back (a batch timer, a full window waiting for a checkpoint, a
   * state transfer): those are its own choice, not a sign that its view is stuck.
   */
  private waitingForExecution(): boolean {
    if (!this.isPrimary()) return this.pending.size > 0;
    // A primary fenced after a crash proposes nothing, not by choice: it waits for its requests.
    return this.ownHigh > this.lastExecuted || (this.fenced() && this.pending.size > 0);
  }

  private armIfWaiting(): void {
    if (!this.vcTimerArmed && this.waitingForExecution()) this.armVcTimer();
  }

  /** Recovery: `seq` of the current view is this primary's own (proposed, or assigned by O). */
  private recoveredOwn(v: bigint, seq: bigint): void {
    if (v !== this.view || this.primaryOf(v) !== this.self) return;
    if (seq > this.nextSeq) this.nextSeq = seq;
    if (seq > this.ownHigh) this.ownHigh = seq;
  }

  private startViewChange(target: bigint, reason: string): void {
    if (target <= this.view) return;
    const from = this.view;
    this.view = target;
    this.inViewChange = true;
    this.vcAttempts++;
    this.hardDirty = true;
    this.viewNewView = undefined;
    this.ownHigh = 0n;
    this.wantBatch.clear();
    if (this.batchTimerArmed) {
      this.batchTimerArmed = false;
      this.cancelTimer(TIMER_BATCH);
    }
    // §4.4: VIEW-CHANGE carries the stable checkpoint proof C and a prepared certificate per n > h.
    const prepared: PreparedCert[] = [];
    const seqs = [...this.log.keys()].filter((k) => k > this.stable.seq).sort((a, b) => (a < b ? -1 : 1));
    for (const k of seqs) {
      const b = this.log.get(k)!.best;
      if (b) prepared.push({ prePrepare: refOf(b.prePrepare), prepares: b.prepares });
    }
    const vc = this.signBody<ViewChangeMsg>({
      type: 'view-change',
      replica: this.self,
      newView: target,
      stable: { seq: this.stable.seq, digest: this.stable.digest, votes: this.stable.proof },
      prepared,
    });
    this.myVc = vc;
    this.olderVcs.clear();
    this.pastVcs.set(target, vc);
    if (this.pastVcs.size > PAST_VCS) this.pastVcs.delete(this.pastVcs.keys().next().value!);
    this.latestVc.set(this.self, vc);
    this.emit({ type: 'view-change', from, to: target, reason });
    this.send('all', vc);
    // §4.5.2: the timer for the new view starts once 2f+1 VIEW-CHANGEs for it have arrived.
    if (this.vcTimerArmed) {
      this.vcTimerArmed = false;
      this.cancelTimer(TIMER_VIEW_CHANGE);
    }
    this.afterViewChangeVote();
  }

  private onViewChange(from: NodeId, m: ViewChangeMsg): void {
    if (m.replica !== from) return this.penalize(from, 'protocol-violation', 'view-change for another replica');
    if (typeof m.newView !== 'bigint') return this.penalize(from, 'malformed', 'view-change');
    if (m.newView < this.view || (m.newView === this.view && !this.inViewChange)) {
      // A peer still changing to the view we are already in: re-send the NEW-VIEW that installed
      // it (see `viewNewView`), at most once per peer per tick, less often from a backup (the
      // VIEW-CHANGE that asks is not validated here, and a NEW-VIEW can be megabytes: unlimited, a
      // few bytes from one peer would buy it that much, again and again).
      const nvKey = `${from}/new-view`;
      if (m.newView === this.view && this.viewNewView && !this.vcResentTo.has(nvKey) && this.ctx.validators.has(from) && this.mayRelayNewView(from)) {
        this.vcResentTo.add(nvKey);
        this.send(from, this.viewNewView.msg);
      }
      // A peer still collecting VIEW-CHANGEs for a view we have left. Its timer starts only at
      // 2f+1 of them (TOCS §4.5.2), and we no longer retransmit ours for that view: if it missed
      // it (a partition), it would wait forever, with too few of us above it for the f+1 rule.
      // Our VIEW-CHANGE for its view, signed when we sent it, is as valid now: re-send it, once
      // per tick (see `vcResentTo`).
      const mine = this.pastVcs.get(m.newView);
      const key = `${from}/${m.newView}`;
      if (m.newView < this.view && mine && !this.vcResentTo.has(key) && this.ctx.validators.has(from)) {
        this.vcResentTo.add(key);
        this.send(from, mine);
      }
      return;
    }
    const prev = this.latestVc.get(from);
    // Below the peer's latest: kept only when it is for the view we are changing to (a peer that
    // moved on re-sent it because we were still collecting; `latestVc` keeps its newer one).
    const older = prev !== undefined && prev.newView > m.newView && m.newView === this.view && this.inViewChange && !this.olderVcs.has(from);
    if (prev && prev.newView >= m.newView && !older) return;
    const why = this.validateViewChange(m);
    if (why) return this.penalize(from, why.startsWith('signature') ? 'invalid-signature' : 'protocol-violation', `view-change: ${why}`);
    if (older) this.olderVcs.set(from, m);
    else this.latestVc.set(from, m);
    this.afterViewChangeVote();
  }

  /**
   * The primary answers every tick, as it always did; a backup only from the peer's second tick of
   * asking (the primary's answer usually settles it first), then after 2, 4 … 64 ticks.
   */
  private mayRelayNewView(peer: NodeId): boolean {
    if (this.isPrimary()) return true;
    const r = this.nvRelays.get(peer);
    if (!r) {
      this.nvRelays.set(peer, { sent: 0, next: this.ticks + 1 });
      return false;
    }
    if (this.ticks < r.next) return false;
    r.sent++;
    r.next = this.ticks + 2 ** Math.min(r.sent, 6);
    return true;
  }

  private afterViewChangeVote(): void {
    // TOCS §4.5.2: f+1 VIEW-CHANGEs for views above ours prove at least one honest replica timed
    // out: join, for the smallest such view, without waiting for our own timer.
    const higher = [...this.latestVc.values()].filter((v) => v.newView > this.view && v.replica !== this.self);
    let power = 0;
    for (const v of higher) power += this.power(v.replica);
    if (power >= this.weak) {
      const min = higher.reduce((a, v) => (v.newView < a ? v.newView : a), higher[0]!.newView);
      this.startViewChange(min, 'f+1 replicas moved on');
      return;
    }
    if (!this.inViewChange) return;
    const forView = [...this.latestVc.values()].filter((v) => v.newView === this.view);
    for (const [id, v] of this.olderVcs) if (v.newView === this.view && this.latestVc.get(id)?.newView !== this.view) forView.push(v);
    let have = 0;
    for (const v of forView) have += this.power(v.replica);
    if (have >= this.q && !this.vcTimerArmed) this.armVcTimer();
    this.maybeSendNewView(forView);
  }

  /** Validates a VIEW-CHANGE: signature, checkpoint proof, and every prepared certificate. Returns why not, or undefined. */
  private validateViewChange(m: ViewChangeMsg): string | undefined {
    return this.checks.validateViewChange(m);
  }

  private maybeSendNewView(forView: readonly ViewChangeMsg[]): void {
    if (!this.inViewChange || this.primaryOf(this.view) !== this.self) return;
    const sorted = [...forView].sort((a, b) => this.ctx.validators.indexOf(a.replica) - this.ctx.validators.indexOf(b.replica));
    // Own VIEW-CHANGE first, then others, until 2f+1 (§4.4).
    const chosen: ViewChangeMsg[] = [];
    let power = 0;
    const own = sorted.find((v) => v.replica === this.self);
    for (const v of own ? [own, ...sorted.filter((x) => x !== own)] : sorted) {
      if (power >= this.q) break;
      chosen.push(v);
      power += this.power(v.replica);
    }
    if (power < this.q) return;
    const plan = computeNewView(chosen, this.nullDigest);
    const prePrepares = plan.entries.map((e) => refOf(this.signPrePrepare(this.view, e.seq, [], e.digest)));
    const nv = this.signBody<NewViewMsg>({ type: 'new-view', view: this.view, viewChanges: chosen, prePrepares });
    this.send('all', nv);
    this.enterView(nv, plan);
  }

  private onNewView(from: NodeId, m: NewViewMsg): void {
    if (typeof m.view !== 'bigint' || !Array.isArray(m.viewChanges) || !Array.isArray(m.prePrepares)) {
      return this.penalize(from, 'malformed', 'new-view');
    }
    if (m.view < this.view || (m.view === this.view && !this.inViewChange)) return;
    // From the primary, or relayed by a replica that entered the view (see `viewNewView`): the
    // primary's signature is checked either way. A bad one convicts whoever sent it (an honest
    // relay re-sends only a NEW-VIEW it accepted, and validity depends on nothing but the message
    // and the validator set), but only the primary's own makes us leave its view.
    const why = this.validateNewView(m);
    if (why) {
      this.penalize(from, why === 'signature' ? 'invalid-signature' : 'protocol-violation', `new-view: ${why}`);
      // A primary that sends a bad NEW-VIEW is faulty: move on to the next view (§4.4).
      if (m.view === this.view && from === this.primaryOf(m.view)) this.startViewChange(this.view + 1n, 'invalid new-view');
      return;
    }
    this.enterView(m, computeNewView(m.viewChanges, this.nullDigest));
  }

  /** §4.4: a backup accepts NEW-VIEW only if V is valid and O is exactly what V implies. */
  validateNewView(m: NewViewMsg): string | undefined {
    return this.checks.validateNewView(m);
  }

  private enterView(nv: NewViewMsg, plan: NewViewPlan): void {
    const prevView = this.view;
    this.view = nv.view;
    this.inViewChange = false;
    this.recordNewView(nv);
    this.nvRelays.clear();
    // Until O is installed nothing may be proposed in the new view: adopting the checkpoint or an
    // execution below would otherwise let the primary reuse a sequence number that O assigns.
    this.installingView = true;
    this.hardDirty = true;
    this.myVc = undefined;
    for (const [id, vc] of this.latestVc) if (vc.newView <= this.view) this.latestVc.delete(id);
    this.olderVcs.clear();
    // §4.4: adopt the latest stable checkpoint in V; fetch its state if we are behind it.
    if (plan.minS > this.stable.seq) {
      const mine = this.myCheckpoints.get(plan.minS);
      if (mine && bytesEqual(mine.digest, plan.stable.digest)) {
        this.makeStable({ seq: plan.minS, digest: plan.stable.digest, proof: plan.stable.votes, stateDigest: mine.stateDigest, snapshot: mine.snapshot, snapshotHash: mine.snapshotHash, clients: mine.clients });
      } else {
        if (this.lastExecuted < plan.minS) this.setFetchTarget(plan.stable);
        // Executed but not yet reported by the application: keep our execution table for it (the
        // snapshot is filled in when the `applied` report arrives, see onApplied).
        const clients = this.clientsAt.get(plan.minS);
        this.makeStable({ seq: plan.minS, digest: plan.stable.digest, proof: plan.stable.votes, ...(clients ? { clients } : {}) });
      }
    }
    this.inLog.clear();
    for (const s of this.log.values()) {
      if (s.seq > this.lastExecuted && s.committed) for (const r of s.committed.batch) this.inLog.add(reqKey(r));
    }
    // The new primary numbers new requests after max-s (§4.4). Set it BEFORE installing O: an
    // execution triggered while installing must not let it propose a sequence number O uses.
    this.nextSeq = plan.maxS > this.lastExecuted ? plan.maxS : this.lastExecuted;
    // O's assignments (seqs above min-s) are the new primary's to see executed.
    this.ownHigh = this.primaryOf(this.view) === this.self && plan.maxS > plan.minS ? plan.maxS : 0n;
    if (this.nextSeq < this.stable.seq) this.nextSeq = this.stable.seq;
    // O names batches by digest only: take each from what we hold, fetch the rest. Client
    // signatures (config.clientAuth) are NOT checked again for these batches, here or when
    // fetched (onBatch, or the new primary's pre-prepare for an `awaiting` seq): each is either a
    // null request or carries a prepared certificate — a pre-prepare and 2f matching PREPAREs, so
    // at least f+1 honest replicas accepted it in the normal case and checked its signatures then
    // (for a batch re-proposed before, in the view that first ordered it). Castro & Liskov, OSDI
    // '99 §4.4 / TOCS '02 §4.4: O re-proposes prepared requests by digest, "without the
    // corresponding client message". Checking again could only hurt: refusing a certified batch
    // (stripped or re-grouped signatures, a client key since removed from the directory) would
    // contradict the quorum and stall every later view on that seq.
    const held = this.heldBatches();
    this.wantBatch.clear();
    for (let i = 0; i < nv.prePrepares.length; i++) {
      const ref = nv.prePrepares[i]!;
      if (ref.seq <= this.stable.seq) continue;
      const s = this.slot(ref.seq);
      const batch = bytesEqual(ref.digest, this.nullDigest) ? [] : held.get(toHex(ref.digest));
      if (batch) {
        this.acceptPrePrepare(s, { type: 'pre-prepare', ...refOf(ref), batch });
        continue;
      }
      s.awaiting = refOf(ref);
      this.record(REC_ASSIGN, [ref.view, ref.seq, ref.digest, ref.signature], s);
      // O is index-aligned with the plan (validateNewView checked it, or we computed both).
      this.wantBatch.set(ref.seq, { digest: ref.digest, holders: this.holdersOf(plan.entries[i]?.cert), next: 0 });
    }
    this.installingView = false;
    this.emit({ type: 'leader', view: this.view, leader: this.primaryOf(this.view) });
    this.ctx.logger?.info({ from: String(prevView), view: String(this.view) }, 'pbft: entered view');
    if (this.vcTimerArmed) {
      this.vcTimerArmed = false;
      this.cancelTimer(TIMER_VIEW_CHANGE);
    }
    // A new view starts its timer afresh: relay first, leave on the second expiry.
    this.escalated = false;
    this.queue.clear();
    for (const [k, r] of this.pending) if (!this.inLog.has(k)) this.queue.set(k, r);
    if (this.isPrimary()) {
      this.maybePropose();
      this.armIfWaiting(); // O's assignments, when nothing was proposed
    } else if (this.pending.size > 0) {
      this.armVcTimer();
      this.forwardPending();
    }
    const buffered = this.future;
    const replay: [NodeId, PbftMessage][] = [];
    for (const [peer, msgs] of buffered) {
      const keep = msgs.filter((m) => 'view' in m && typeof m.view === 'bigint' && m.view > this.view);
      for (const m of msgs) if ('view' in m && m.view === this.view) replay.push([peer, m]);
      if (keep.length > 0) buffered.set(peer, keep);
      else buffered.delete(peer);
    }
    for (const [peer, m] of replay) this.onMessage(peer, m);
    // After the replay: the new primary's buffered pre-prepares may already have delivered batches.
    this.askForBatches();
  }

  private remember(s: Slot, pp: PrePrepareMsg): void {
    if (!s.known) s.known = new Map();
    s.known.set(toHex(pp.digest), pp.batch);
    if (s.known.size > KNOWN_PER_SEQ) s.known.delete(s.known.keys().next().value!);
  }

  /** Every batch this replica holds for seqs above the stable checkpoint, by digest. */
  private heldBatches(): Map<string, readonly ClientRequest[]> {
    const out = new Map<string, readonly ClientRequest[]>();
    for (const s of this.log.values()) {
      if (s.known) for (const [d, b] of s.known) out.set(d, b);
      if (s.pp) out.set(toHex(s.pp.digest), s.pp.batch);
      if (s.best) out.set(toHex(s.best.prePrepare.digest), s.best.prePrepare.batch);
      if (s.committed) out.set(toHex(s.committed.digest), s.committed.batch);
    }
    return out;
  }

  /**
   * Whom to ask for a certificate's batch: its signers first (each one accepted the pre-prepare
   * with the batch before it signed, so at least f+1 of them are correct and hold it until a
   * checkpoint covers the seq), then everyone else.
   */
  private holdersOf(cert: PreparedCert | undefined): NodeId[] {
    // The certificate's primary last: after a primary crash (the usual reason for a view change)
    // it is the one most likely gone.
    const oldPrimary = cert ? this.primaryOf(cert.prePrepare.view) : undefined;
    const first = cert ? cert.prepares.map((p) => p.voter) : [];
    const out: NodeId[] = [];
    for (const id of [...first, ...this.ids]) if (id !== this.self && id !== oldPrimary && !out.includes(id)) out.push(id);
    if (oldPrimary !== undefined && oldPrimary !== this.self) out.splice(first.filter((x) => x !== this.self).length, 0, oldPrimary);
    return out;
  }

  /** One FETCH-BATCH per missing batch, each to the next holder in its list. */
  private askForBatches(): void {
    for (const [seq, w] of this.wantBatch) {
      const s = this.log.get(seq);
      if (seq <= this.lastExecuted || !s?.awaiting || s.view !== this.view || w.holders.length === 0) {
        this.wantBatch.delete(seq);
        continue;
      }
      // Seqs start at different holders, so many missing batches spread over the holders' budgets.
      const to = w.holders[(w.next + Number(seq % BigInt(w.holders.length))) % w.holders.length]!;
      w.next++;
      this.send(to, { type: 'fetch-batch', seq, digest: w.digest });
    }
  }

  private onFetchBatch(from: NodeId, m: FetchBatchMsg): void {
    if (typeof m.seq !== 'bigint' || !isBytes(m.digest)) return this.penalize(from, 'malformed', 'fetch-batch');
    let served = this.batchesServed.get(from);
    if (served?.seqs.has(m.seq) || (served && served.bytes >= 8 * this.cfg.maxBatchBytes)) return;
    const s = this.log.get(m.seq);
    const committed = s?.committed ?? this.recent.get(m.seq);
    const batch = s?.known?.get(toHex(m.digest)) ?? (committed && bytesEqual(committed.digest, m.digest) ? committed.batch : undefined);
    // Not held (already below our checkpoint, or never seen): the asker tries someone else.
    if (!batch) return;
    if (!served) this.batchesServed.set(from, (served = { bytes: 0, seqs: new Set() }));
    served.seqs.add(m.seq);
    served.bytes += batchWireBytes(batch);
    this.send(from, { type: 'batch', seq: m.seq, batch });
  }

  private onBatch(from: NodeId, m: BatchMsg): void {
    const w = this.wantBatch.get(m.seq);
    if (!w) return; // not asked for, or already answered by another holder
    if (!this.validBatch(m.batch)) return this.penalize(from, 'protocol-violation', 'batch out of bounds');
    // Another digest is ignored, not blamed: it may be an honest, late answer to what we wanted
    // for this seq in an earlier view.
    if (!bytesEqual(this.batchDigest(m.batch), w.digest)) return;
    // The digest is one a NEW-VIEW certificate names: no client signature check (see enterView).
    const s = this.log.get(m.seq);
    this.wantBatch.delete(m.seq);
    if (!s?.awaiting || s.view !== this.view || !bytesEqual(s.awaiting.digest, w.digest)) return;
    const pp: PrePrepareMsg = { type: 'pre-prepare', ...s.awaiting, batch: m.batch };
    this.acceptPrePrepare(s, pp);
    // Backups missing it too get it at once rather than on the next retransmission.
    if (this.isPrimary()) this.send('all', pp);
  }

  private broadcastPending(): void {
    this.sendRequests('all', this.firstRequests(this.pending.values()));
  }

  private forwardPending(): void {
    this.sendRequests(this.primaryOf(this.view), this.firstRequests(this.queue.values()));
  }

  /** At most one batch's worth: retransmission must not flood a peer. */
  private firstRequests(it: Iterable<ClientRequest>): ClientRequest[] {
    return requestBatches(it, this.cfg.maxBatchSize, this.cfg.maxBatchBytes).next().value ?? [];
  }

  // ================================================================ timers and retransmission

  private onTimeout(timer: string): void {
    switch (timer) {
      case TIMER_VIEW_CHANGE:
        if (!this.vcTimerArmed) return;
        this.vcTimerArmed = false;
        // §4.5.2: the timer expired in view v (or waiting for NEW-VIEW of v): move to v+1.
        if (this.inViewChange) this.startViewChange(this.view + 1n, 'new-view timeout');
        else if (this.waitingForExecution()) {
          if (!this.escalated) {
            // First expiry: relay the waiting requests to every replica, so the primary gets them
            // even if our forward was lost, and so every honest backup starts its own timer —
            // a view change then has f+1 supporters instead of leaving this replica alone in it.
            this.escalated = true;
            this.broadcastPending();
            this.armVcTimer();
          } else {
            this.startViewChange(this.view + 1n, 'request timeout');
          }
        }
        return;
      case TIMER_BATCH:
        this.batchTimerArmed = false;
        this.batchTimerFired = true;
        this.maybePropose();
        this.batchTimerFired = false;
        return;
      case TIMER_RETRANSMIT:
        this.retransmitArmed = false;
        this.retransmit();
        return;
      case TIMER_STATUS:
        // Periodic status (a FETCH carrying our executed height): peers behind us learn they are
        // behind, peers ahead of us answer with what we miss. Heals partitions that outlasted
        // all other traffic.
        this.statusArmed = false;
        this.served.clear();
        this.partsServed.clear();
        this.batchesServed.clear();
        this.vcResentTo.clear();
        this.ticks++;
        this.send('all', this.signBody<FetchMsg>({ type: 'fetch', have: this.lastExecuted }));
        return;
    }
  }

  private busy(): boolean {
    return (
      // Serving pieces counts too: the retransmission tick is what renews the per-peer budget.
      this.inViewChange || this.fetchTarget !== undefined || this.transfer !== undefined || this.partsServed.size > 0 ||
      this.batchesServed.size > 0 ||
      this.pending.size > 0 || this.behind || this.wantBatch.size > 0 ||
      this.nextSeq > this.lastExecuted || [...this.log.keys()].some((k) => k > this.lastExecuted) ||
      [...this.myCheckpoints.keys()].some((k) => k > this.stable.seq)
    );
  }

  /** Loss recovery: re-send what this replica said about unfinished work, and catch up when stuck. */
  private retransmit(): void {
    if (this.inViewChange) {
      if (this.myVc) this.send('all', this.myVc);
      // Requests keep flowing to whoever orders them while we wait for a NEW-VIEW.
      if (this.pending.size > 0) this.broadcastPending();
    } else {
      let n = 0;
      let newest = this.lastExecuted;
      for (let s = this.lastExecuted + 1n; s <= this.high() && n < RETRANSMIT_SLOTS; s++, n++) {
        const slot = this.log.get(s);
        if (!slot || slot.view !== this.view) continue;
        newest = s;
        if (s > this.retransmitUpTo) continue; // younger than one tick: its round may still be running
        if (slot.pp && this.isPrimary()) this.send('all', slot.pp);
        if (slot.myPrepare) this.send('all', slot.myPrepare);
        if (slot.myCommit) this.send('all', slot.myCommit);
      }
      this.retransmitUpTo = newest;
      if (!this.isPrimary() && this.pending.size > 0) this.forwardPending();
      // A primary fenced in its recovered view orders nothing (`record`): it relays what waits to
      // every backup, whose view-change timers then move the cluster to a view it can serve in.
      else if (this.fenced() && this.pending.size > 0) this.broadcastPending();
      this.askForBatches();
    }
    for (const [seq, c] of this.myCheckpoints) if (seq > this.stable.seq) this.send('all', c.msg);
    const stuck = this.lastExecuted === this.lastTickExecuted;
    if (this.transfer && this.transfer.seq <= this.lastExecuted) this.transfer = undefined;
    if (this.transfer) this.continueTransfer(this.transfer);
    else if (this.fetchTarget) this.sendFetch();
    else if (
      stuck &&
      (this.behind || this.inViewChange || this.pending.size > 0 ||
        [...this.log.keys()].some((k) => k > this.lastExecuted) ||
        [...this.myCheckpoints.keys()].some((k) => k > this.stable.seq))
    ) {
      // No progress since the last tick while work is outstanding: ask a random peer for committed
      // batches we may have missed (their messages may have been lost or beyond our watermarks).
      this.sendFetch();
    }
    this.behind = false;
    this.fetchedThisTick = false;
    this.served.clear();
    this.batchesServed.clear();
    this.partsServed.clear();
    this.vcResentTo.clear();
    this.ticks++;
    this.lastTickExecuted = this.lastExecuted;
    if (!this.busy() && this.lastExecuted > this.lastAnnounced) {
      // Going idle: announce how far we got (as a FETCH), so a replica that missed the end of the
      // traffic learns it is behind and catches up, even though nothing else will be sent.
      this.lastAnnounced = this.lastExecuted;
      this.send('all', this.signBody<FetchMsg>({ type: 'fetch', have: this.lastExecuted }));
    }
  }

  private afterStep(): void {
    if (!this.statusArmed && this.cfg.statusIntervalMs > 0) {
      this.statusArmed = true;
      this.setTimer(TIMER_STATUS, this.cfg.statusIntervalMs);
    }
    if (!this.retransmitArmed && (this.busy() || this.lastExecuted > this.lastAnnounced)) {
      this.retransmitArmed = true;
      this.setTimer(TIMER_RETRANSMIT, this.cfg.retransmitMs);
    }
  }

  // ================================================================ persistence and recovery

  private encodeHardState(): Uint8Array {
    const st = this.stable;
    return encode([
      1,
      this.view,
      this.inViewChange,
      st.seq,
      st.digest,
      st.proof.map((v) => [v.voter, v.signature]),
      st.stateDigest ?? null,
      st.clients ?? null,
      this.nextIndex,
      // Clean stop: only in the last hard state a stopped core writes. A restart that reads it
      // writes its first hard state (false) before anything it sends, so a crash after that is
      // fenced as usual. Not while this run is itself fenced: the mark vouches for what this run
      // sent, not for the votes the crash before it may have lost.
      this.stopped && this.fencedView !== this.view,
    ]);
  }

  private recover(rec: RecoveredState): void {
    if (rec.hardState) {
      // Our own storage (checksummed): bounded by what was written, not by the 16 MiB message default
      // (the execution table inside grows with the number of clients).
      const a = readArray(decode(rec.hardState, { maxBytes: rec.hardState.length }), 'hardState', 16);
      if (a[0] !== 1) throw new ConfigError('recovered.hardState', 'unknown hard-state version');
      this.view = readU64(a[1], 'hardState.view');
      this.inViewChange = readBool(a[2], 'hardState.inViewChange');
      const proof = readArray(a[5], 'hardState.proof').map((x, i) => {
        const p = readArray(x, `hardState.proof[${i}]`, 2);
        return { voter: String(p[0]), signature: readBytes(p[1], `hardState.proof[${i}].signature`) };
      });
      this.stable = {
        seq: readU64(a[3], 'hardState.stable'),
        digest: readBytes(a[4], 'hardState.digest'),
        proof,
        ...(a[6] !== null ? { stateDigest: readBytes(a[6], 'hardState.stateDigest') } : {}),
        ...(a[7] !== null ? { clients: readBytes(a[7], 'hardState.clients') } : {}),
      };
      this.nextIndex = readU64(a[8], 'hardState.nextIndex');
      // Recovered during a view change, the replica never entered its view: nothing of that view
      // was sent, and votes of the view before can no longer be. After a clean stop everything it
      // sent is durable. Hard state written before the clean-stop mark existed has 9 fields.
      const clean = a.length > 9 && readBool(a[9], 'hardState.cleanStop');
      if (!this.inViewChange && !clean) this.fencedView = this.view;
      // The mark is cleared (durably, before the first send) so a later crash is fenced.
      if (clean) this.hardDirty = true;
      if (this.stable.clients) this.exec = ExecTable.decode(this.stable.clients);
      if (rec.snapshot && rec.snapshot.height === this.stable.seq) this.stable.snapshot = rec.snapshot.data;
    }
    this.lastExecuted = this.stable.seq;
    this.nextSeq = this.stable.seq;
    // Rebuild per (seq, view) what this replica accepted and said; then derive prepared/committed.
    type Group = { pp?: PrePrepareMsg; assign?: PrePrepareRef; votes: VoteMsg[] };
    const groups = new Map<bigint, Map<bigint, Group>>();
    const groupOf = (seq: bigint, view: bigint): Group => {
      let byView = groups.get(seq);
      if (!byView) groups.set(seq, (byView = new Map()));
      let g = byView.get(view);
      if (!g) byView.set(view, (g = { votes: [] }));
      return g;
    };
    const entries: CommittedEntry[] = [];
    const firstRecord = new Map<bigint, bigint>();
    for (const r of rec.log) {
      if (r.index >= this.nextIndex) this.nextIndex = r.index + 1n;
      const a = readArray(decode(r.data, { maxBytes: r.data.length }), 'record', 2); // a batch may exceed 16 MiB
      const tag = a[0];
      let seq: bigint;
      if (tag === REC_ENTRY) {
        const e = readArray(a[1], 'record.entry', 4);
        const m = fromValue([8, null, [e as Value], new Uint8Array(0)]) as StateMsg;
        entries.push(m.entries[0]!);
        seq = m.entries[0]!.seq;
      } else if (tag === REC_ASSIGN) {
        const t = readArray(a[1], 'record.assign', 4);
        const ref: PrePrepareRef = {
          view: readU64(t[0], 'record.assign.view'),
          seq: readU64(t[1], 'record.assign.seq'),
          digest: readBytes(t[2], 'record.assign.digest'),
          signature: readBytes(t[3], 'record.assign.signature'),
        };
        seq = ref.seq;
        if (seq <= this.stable.seq) continue;
        groupOf(seq, ref.view).assign = ref;
      } else if (tag === REC_NEW_VIEW) {
        // The latest one wins (a view's record may have been copied past a compaction).
        const nv = fromValue(a[1]!);
        // Only the current view's: a replica recovered in a view change has entered none (and
        // `startViewChange` below clears it all the same).
        if (nv.type === 'new-view' && nv.view === this.view) this.viewNewView = { msg: nv, index: r.index };
        continue;
      } else {
        const m = fromValue(a[1]!);
        if (m.type !== 'pre-prepare' && m.type !== 'prepare' && m.type !== 'commit') continue;
        seq = m.seq;
        if (seq <= this.stable.seq) continue;
        const g = groupOf(seq, m.view);
        if (m.type === 'pre-prepare') g.pp = m;
        else g.votes.push(m);
      }
      if (!firstRecord.has(seq)) firstRecord.set(seq, r.index);
    }
    this.replaying = true;
    try {
      const seqs = [...groups.keys()].sort((x, y) => (x < y ? -1 : 1));
      for (const seq of seqs) {
        const byView = groups.get(seq)!;
        const views = [...byView.keys()].sort((x, y) => (x < y ? -1 : 1));
        for (const v of views) {
          if (v > this.view) continue;
          const g = byView.get(v)!;
          const s = this.slot(seq, v);
          if (g.pp) {
            s.pp = g.pp;
            // Kept past the reset to the current view below, as before the crash: a NEW-VIEW may
            // assign this batch, and its holders are the ones others fetch it from.
            this.remember(s, g.pp);
          } else if (g.assign) s.awaiting = g.assign;
          // `!g.pp`: defensive. A restored pre-prepare already keeps its slot from PREPAREing again
          // (only acceptPrePrepare PREPAREs, and onPrePrepare never calls it for a slot with one).
          if (!g.pp && g.assign && v === this.view && this.fencedView === v) this.pinned.add(seq);
          if (g.assign) this.recoveredOwn(v, seq);
          for (const m of g.votes) {
            const kind = m.type === 'prepare' ? KIND_PREPARE : KIND_COMMIT;
            (m.type === 'prepare' ? s.prepares : s.commits).add(this.asVote(kind, m.voter, m));
            if (m.voter === this.self) {
              if (m.type === 'prepare') s.myPrepare = m;
              else s.myCommit = m;
            }
          }
          if (s.pp) {
            const need = this.q - this.power(this.primaryOf(v));
            if (s.prepares.powerFor(s.pp.digest) >= need) {
              s.prepared = true;
              s.best = { prePrepare: s.pp, prepares: s.prepares.certificate(s.pp.digest)?.votes ?? [] };
              const cert = s.commits.certificate(s.pp.digest);
              if (!s.committed && cert && s.commits.powerFor(s.pp.digest) >= this.q) {
                s.committed = { view: v, digest: s.pp.digest, batch: s.pp.batch, cert };
              }
            }
            this.recoveredOwn(v, seq);
          }
        }
        const s = this.log.get(seq);
        if (s) {
          s.firstRecord = firstRecord.get(seq);
          // Own votes of the current view are re-installed even when the slot was reset to this view.
          if (s.view < this.view) this.slot(seq);
        }
      }
      for (const e of entries) {
        if (e.seq <= this.stable.seq) continue;
        const s = this.log.get(e.seq) ?? this.slot(e.seq);
        if (s.firstRecord === undefined) s.firstRecord = firstRecord.get(e.seq);
        if (!s.committed) {
          const digest = this.batchDigest(e.batch);
          s.committed = {
            view: e.view,
            digest,
            batch: e.batch,
            cert: { chainId: this.cfg.chainId, kind: KIND_COMMIT, height: e.seq, round: e.view, digest, votes: e.commits },
          };
        }
      }
      // Batches the application already applied are replayed silently (execution table only).
      for (;;) {
        const next = this.lastExecuted + 1n;
        const s = this.log.get(next);
        if (next > rec.appliedHeight || !s?.committed) break;
        this.execute(next, s.committed.batch, s.committed.cert, true);
      }
    } finally {
      this.replaying = false;
    }
    for (const s of this.log.values()) {
      if (s.seq > this.lastExecuted && s.pp && s.view === this.view) for (const r of s.pp.batch) this.inLog.add(reqKey(r));
      // A NEW-VIEW batch still missing when we stopped: fetch it again (whom the certificate named is gone with it).
      if (s.seq > this.lastExecuted && s.awaiting && s.view === this.view) {
        this.wantBatch.set(s.seq, { digest: s.awaiting.digest, holders: this.holdersOf(undefined), next: 0 });
      }
    }
    if (rec.appliedHeight < this.stable.seq) {
      if (this.stable.snapshot) {
        this.outRestore = { height: this.stable.seq, snapshot: this.stable.snapshot };
      } else if (this.stable.seq > 0n) {
        this.lastExecuted = rec.appliedHeight;
        this.fetchTarget = { seq: this.stable.seq, digest: this.stable.digest, votes: this.stable.proof };
      }
    } else if (rec.appliedHeight > this.lastExecuted) {
      // The application is ahead of our log (it applied batches we lost): trust it, fetch the rest.
      this.lastExecuted = rec.appliedHeight;
    }
    if (this.nextSeq < this.lastExecuted) this.nextSeq = this.lastExecuted;
    if (this.inViewChange) {
      // Re-issue our VIEW-CHANGE for the view we were moving to (same view: no new promise).
      const v = this.view;
      this.view = v - 1n;
      this.startViewChange(v, 'restart during view change');
      this.vcAttempts = 1;
    }
    this.tryExecute();
  }
}
