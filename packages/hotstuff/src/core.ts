/**
 * Chained HotStuff as a sans-I/O core (Yin, Malkhi, Reiter, Gueta, Abraham — "HotStuff: BFT
 * Consensus with Linearity and Responsiveness", PODC 2019). We follow Algorithm 4 (event-driven
 * chained HotStuff) with views numbered explicitly as in LibraBFT/DiemBFT, a pacemaker with
 * timeout certificates (TCs), and optionally the two-chain commit rule of Jolteon
 * (Gelashvili et al., FC 2022) / Fast-HotStuff.
 *
 * Invariants kept here:
 *  - a block's parent is the block its QC certifies (b.parent = b.justify.node), so the tree of
 *    blocks is also the tree of certificates;
 *  - the tree holds only the last committed block (root) and its descendants: after each commit
 *    every other branch is pruned, so memory is bounded by the uncommitted suffix;
 *  - safety state (last voted view, locked QC, high QC) is in `Ready.persist` of the same `ready()`
 *    whose `send` carries the vote or timeout, and the runtime makes persist durable first;
 *  - so are the uncommitted blocks that state refers to (the chain up to the high QC's block and
 *    every block voted for), so a vote implies the block survives a restart (see `durableBlocks`).
 */
import { BatchBytes, CertificateError, ConfigError, DecodeError, batchWireBytes, requestBatches, requestWireBytes, unknownClient } from '@phalanx/interface';
import type {
  ClientRequest,
  CommittedBatch,
  CoreContext,
  CoreStatus,
  Hasher,
  Input,
  LogRecord,
  MisbehaviourKind,
  NodeId,
  Outbound,
  ProtocolCore,
  ProtocolEvent,
  Ready,
  RecoveredState,
  SignedRequestGroup,
  SignedVote,
  TimerOp,
} from '@phalanx/interface';
import { bytesEqual, decode, encode, readArray, readBytes, readMap, readU64, readUint, toHex } from '@phalanx/codec';
import { assertBftSize, faultTolerance, quorumPower, signVote, verifyCertificate, verifyVote, VoteSet, weakQuorumPower } from '@phalanx/quorum';
import type { VoteBody } from '@phalanx/quorum';
import type { Value } from '@phalanx/codec';
import { sha256 } from '@noble/hashes/sha2.js';
import { MAX_GROUP_SIZE } from '@phalanx/client-auth';
import { blockHash, blockHashParts, commandsDigest, genesisBlock, genesisQC, isGenesisQC, sha256Hasher } from './block.js';
import { headerToValue, LIMITS, qcFromValue, qcToValue, tcFromValue, tcToValue } from './codec.js';
import { checkpointBody, checkpointDigest, proposalBody, qcBody, timeoutBody, VOTE_KIND } from './certificates.js';
import type { CertificateScheme } from './certificates.js';
import type { HotStuffConfig, ResolvedConfig } from './config.js';
import { resolveConfig } from './config.js';
import type { LeaderElection, ViewEntry } from './leader.js';
import { encodeCommitProof, framedBlockValue, proofTarget, verifyCommitProof } from './proof.js';
import type { Block, CheckpointVote, HotStuffMessage, QuorumCert, StateCert, TimeoutCert, TimeoutVote } from './types.js';

export const VIEW_TIMER = 'hotstuff/view';
/** The state-transfer tick (`stateTickMs`): transfer retries, catch-up checks, serving budgets. */
export const STATE_TIMER = 'hotstuff/state';
/** The status probe (`statusIntervalMs`): our high QC to one random peer, idle or not. */
export const STATUS_TIMER = 'hotstuff/status';
/** A peer as far along as we are is re-told our checkpoint on every this-many-th STATUS ask (see `onStatus`). */
const CHECKPOINT_RETELL = 16;
/** Pieces of state served to one peer per state tick (bounds what a request of a few bytes costs). */
const MAX_PIECES_PER_TICK = 32;
/** Snapshot heights whose commit proofs are kept until the runtime reports the state stored. */
const KEPT_SNAPSHOT_PROOFS = 4;
const MAX_WANTED = 64;
const VERIFIED_CACHE = 1024;
const COMMITTED_KEYS = 16_384;
/** Most log records one Ready compacts away (see `compactTarget`). */
const MAX_COMPACT_STEP = 10_000n;
const U64_MAX = (1n << 64n) - 1n;
/**
 * Most uncommitted blocks the hard state carries (see `durableBlocks`). Normally 2–3 (three-chain:
 * the two certified blocks above the committed one and the block just voted for; two-chain one
 * fewer); more only while QCs form without a commit (no three consecutive views) or votes went to
 * forks that no commit has pruned yet. The simulator's chaos and Byzantine profiles (n = 4 and 7,
 * 100 seeds each) peaked at a 14-block high-QC chain. Each block is at most `maxBlockBytes` of
 * commands (framed without signatures, never more than `batchWireBytes` counts) plus a header with
 * one QC, so the hard state stays under MAX_DURABLE_BLOCKS × (maxBlockBytes + header) plus its own
 * QCs and TC: at most ~16 MiB at the default 1 MiB blocks, about 2–3 MiB under full load.
 */
export const MAX_DURABLE_BLOCKS = 16;
/** Most blocks a stored hard state may hold when read back (above MAX_DURABLE_BLOCKS: room for a later bound). */
const MAX_STORED_BLOCKS = 1024;

interface TreeNode {
  readonly block: Block;
  readonly hash: Uint8Array;
  readonly key: string;
  readonly cmdDigest: Uint8Array;
  /** Cached `ViewEntry` for the view after this block's (see `entryAfter`). */
  entry?: ViewEntry;
  /** Voted for by this replica (or recovered from the hard state): its chain stays durable. */
  keep?: boolean;
  /** The block as the hard state stores it (`framedBlockValue`, encoded once). */
  durable?: Uint8Array;
}

/**
 * A checkpoint f+1 validators signed: the application state after block `block` at `height` is
 * the `size` bytes whose SHA-256 is `state`.
 */
interface CertifiedCheckpoint {
  readonly height: bigint;
  readonly block: Uint8Array;
  readonly state: Uint8Array;
  readonly size: number;
  readonly votes: readonly CheckpointVote[];
}

/** A stored snapshot this replica serves, with the commit proof of its block (and its certificate, once formed). */
interface ServedState {
  readonly height: bigint;
  readonly block: Uint8Array;
  readonly state: Uint8Array;
  readonly snapshot: Uint8Array;
  readonly proof: Uint8Array;
  votes?: readonly CheckpointVote[];
  /** The state tick in which a piece of it was last served (a transfer under way keeps it). */
  servedAtTick: number;
}

/** A state transfer in progress: one source at a time, pieces in order (see `onState`). */
interface Transfer {
  height: bigint;
  source: NodeId;
  /** Whom to ask, signers of the checkpoint first, then every other validator. */
  candidates: readonly NodeId[];
  /** The certificate and committed block of the state being fetched, once its first piece came. */
  accepted?: { readonly block: Block; readonly hash: Uint8Array; readonly state: Uint8Array; readonly votes: readonly CheckpointVote[]; readonly proof: Uint8Array };
  /** The state's bytes, allocated at its certified size once the first piece proved it. */
  buffer?: Uint8Array;
  received: number;
  /** Bytes and pieces taken since the last state tick, and state ticks in a row with too few (see `onStateTick`). */
  bytesThisTick: number;
  piecesThisTick: number;
  idleTicks: number;
}

interface PendingProposal {
  readonly from: NodeId;
  readonly block: Block;
  readonly hash: Uint8Array;
  readonly cmdDigest: Uint8Array;
  readonly tc: TimeoutCert | undefined;
}

/** TIMEOUTs collected for one view: the votes, and only the highest QC among them (bounded memory). */
interface TimeoutSet {
  readonly votes: Map<NodeId, TimeoutVote>;
  high: QuorumCert;
}

/**
 * Mempool identity of a command: (client, seq) plus its payload. Without client signatures a
 * Byzantine replica can inject a command under someone else's (client, seq); keying on the payload
 * too keeps the genuine command from being discarded as a duplicate of the forgery (the
 * application's exactly-once table then decides which one executes).
 */
function requestKey(r: ClientRequest): string {
  const p = r.payload;
  // latin1: one character per byte, decoded natively (String.fromCharCode.apply over the bytes
  // was 3–4% of a replica's CPU under load, four times per command with forwarding).
  // Injective: the client id is length-prefixed (it may itself hold NULs), and a raw payload
  // ('r') can never equal a hashed one ('h'). A key shared by two different commands would let
  // a forged one pass as the genuine one already pending (its check is skipped as a duplicate).
  const body = p.length <= 256 ? `r${Buffer.from(p.buffer, p.byteOffset, p.length).toString('latin1')}` : `h${toHex(sha256(p))}`;
  return `${r.client.length}:${r.client}\u0000${r.seq}\u0000${body}`;
}

/**
 * The `requestKey`s of a block's commands, computed once per block object (checked on arrival,
 * skipped when proposing on top of it, dropped from the pool at commit). Kept per block, not per
 * command: a weak entry per command of the ~1,000 committed blocks the sync window holds was
 * ~400k ephemerons for every full garbage collection to trace. Forgotten at commit.
 */
const blockKeys = new WeakMap<Block, readonly string[]>();
function commandKeys(b: Block): readonly string[] {
  let keys = blockKeys.get(b);
  if (keys === undefined) blockKeys.set(b, (keys = b.commands.map(requestKey)));
  return keys;
}

/**
 * A set that forgets its oldest entries beyond `cap`. (Deleting from the front of a JS Set and
 * asking for the first entry again is O(tombstones): a ring of insertion order keeps it O(1).)
 */
class BoundedSet<T> {
  private readonly set = new Set<T>();
  private readonly ring: T[] = [];
  private at = 0;
  constructor(private readonly cap: number) {}
  has(v: T): boolean {
    return this.set.has(v);
  }
  add(v: T): void {
    if (this.set.has(v)) return;
    if (this.ring.length < this.cap) this.ring.push(v);
    else {
      this.set.delete(this.ring[this.at]!);
      this.ring[this.at] = v;
      this.at = (this.at + 1) % this.cap;
    }
    this.set.add(v);
  }
  get size(): number {
    return this.set.size;
  }
}

const maxBig = (a: bigint, b: bigint): bigint => (a > b ? a : b);

export class HotStuffCore implements ProtocolCore<HotStuffMessage> {
  private readonly cfg: ResolvedConfig;
  private readonly self: NodeId;
  private readonly scheme: CertificateScheme;
  private readonly election: LeaderElection;
  private readonly quorum: number;
  private readonly weak: number;
  private readonly genesisQC: QuorumCert;
  private readonly chainLength: bigint;

  // Safety state (persisted as hard state).
  private curView = 1n;
  private lastVotedView = 0n;
  private lastProposedView = 0n;
  private lockedQC: QuorumCert;
  private highQC: QuorumCert;
  private highTC: TimeoutCert | undefined;

  // Block tree: root = last committed block; only its descendants are kept.
  private readonly tree = new Map<string, TreeNode>();
  private readonly children = new Map<string, Set<string>>();
  private root: TreeNode;
  private committedHeight = 0n;
  /**
   * Recently committed blocks kept to serve block sync (bounded by `syncWindow`), as their log
   * records: the commit proof frames the block, and is already encoded. As decoded blocks, the
   * ~1,000 of them under load were ~400k commands, each an object, a bigint and a payload with its
   * own ArrayBuffer, for every full garbage collection to trace and every young one to sweep.
   */
  private readonly committedWindow = new Map<string, Uint8Array>();
  /**
   * The window block `findBlock` decoded last: `leaderOf` asks for the high QC's block on every
   * status, which is a window block only in the rare case that it is committed and left the tree.
   */
  private windowNode: TreeNode | undefined;
  private readonly windowOrder: string[] = [];
  private windowAt = 0;
  private lastNonEmptyHeight = 0n;

  // Pacemaker.
  private backoff = 0;
  private timerView: bigint | undefined;
  private timedOutView = 0n;
  private myTimeout: HotStuffMessage | undefined;
  private readonly timeouts = new Map<bigint, TimeoutSet>();
  private readonly votes = new Map<bigint, { first: Map<NodeId, SignedVote>; sets: Map<string, VoteSet> }>();
  private formedQCView = 0n;
  private triedElectionView = 0n;
  /**
   * Whether the current view was entered with a QC of the view before (not a TC or a timeout
   * join). Fixed at entry: a QC of view-1 that arrives after its TC does not change who proposes
   * here, or the replica the turn passes to and the round-robin leader (who used the TC) would
   * both propose in the view and split its votes. Not persisted (see `recover`).
   */
  private enteredByQC = true; // view 1 is entered by the genesis QC
  private readonly seenProposals = new Map<bigint, Map<NodeId, SignedVote>>();
  private readonly helped = new Map<NodeId, bigint>();

  // Block sync.
  private readonly pending = new Map<string, PendingProposal[]>();
  private readonly pendingPerPeer = new Map<NodeId, number>();
  private pendingTotal = 0;
  private readonly fetched = new Map<string, Block>();
  private readonly fetchedByParent = new Map<string, Set<string>>();
  private readonly wanted = new Map<string, Uint8Array>();

  // Mempool.
  private readonly mempool = new Map<string, ClientRequest>();
  private readonly committedKeys = new BoundedSet<string>(COMMITTED_KEYS);
  private forwardQueue: ClientRequest[] = [];

  private readonly verifiedQCs = new BoundedSet<string>(VERIFIED_CACHE);

  // State transfer (see `onApplied`, `onCheckpoint`, `onState`).
  /** SHA-256, as the runtime digests application snapshots (`cfg.hasher` may be another hash). */
  private readonly stateHasher: Hasher;
  /** Commit proofs of the latest snapshot heights, until the runtime reports their state stored. */
  private readonly snapshotProofs = new Map<bigint, { hash: Uint8Array; proof: Uint8Array }>();
  /** The states this replica serves: its latest stored snapshot and the one before it. */
  private served: ServedState[] = [];
  /** Each validator's latest checkpoint vote: one per validator, so memory stays bounded. */
  private readonly checkpointVotes = new Map<NodeId, { height: bigint; key: string; signature: Uint8Array }>();
  /** The highest checkpoint certified by f+1 matching votes. */
  private bestCheckpoint: CertifiedCheckpoint | undefined;
  /** Peers handed our certified checkpoint this state tick (an answer to their STATUS). */
  private readonly toldCheckpoint = new Set<NodeId>();
  /** STATUS asks (reply wanted) per peer, for the checkpoint re-tell rule in `onStatus`. */
  private readonly statusAsks = new Map<NodeId, number>();
  private transfer: Transfer | undefined;
  private transferRound = 0;
  private stateTimerArmed = false;
  private stateTick = 0;
  /** State ticks in a row without a commit while behind the best checkpoint, and the height at the last tick. */
  private stalledTicks = 0;
  private lastTickHeight = 0n;
  /** Pieces and bytes served per peer this state tick, and the peers served a first piece (the one with the proof). */
  private readonly piecesServed = new Map<NodeId, { pieces: number; bytes: number }>();
  private readonly firstPiecesServed = new Set<NodeId>();
  /**
   * The application's height when it is ahead of the recovered log (a crash after a transferred
   * state was stored, before the log was rewritten): no transfer may take it below that.
   */
  private appliedFloor = 0n;
  /** The last certified checkpoint too large for `maxStateBytes` (reported once, never fetched). */
  private tooLargeAt = -1n;
  /**
   * STATUS requests still to send, one to a random peer per state tick, after the broadcast at
   * start: in an idle cluster nothing else would tell a starting replica it is behind, and the
   * broadcast may be lost.
   */
  private statusProbes = 3;
  /** A transferred state for the runtime to install (handed out alone, see `ready`). */
  private outRestore: { height: bigint; snapshot: Uint8Array } | undefined;
  /** The installed state's committed block, to become the log's only record (see `install`). */
  private rootRecord: LogRecord | undefined;
  private readonly loopback: Array<{ from: NodeId; msg: HotStuffMessage }> = [];

  // Outputs.
  private persistId = 0n;
  private hardDirty = false;
  /** Uncommitted blocks in the last hard state written (see `durableBlocks`). */
  private durableCount = 0;
  /** Committed height at which a chain longer than MAX_DURABLE_BLOCKS was last reported. */
  private cutWarnedAt = -1n;
  /**
   * Log records below `compactTarget` may go (raised after each snapshot); `compactedTo` is how
   * far a `PersistRequest.compactTo` already went. The gap is closed at most `MAX_COMPACT_STEP`
   * records per Ready: the first snapshot of a node whose log reaches back to genesis (written
   * before snapshots existed) would otherwise drop millions of records in one storage transaction,
   * on every replica at the same height.
   */
  private compactTarget = 0n;
  private compactedTo = 0n;
  private append: LogRecord[] = [];
  private send: Outbound<HotStuffMessage>[] = [];
  private commits: CommittedBatch[] = [];
  private timers: TimerOp[] = [];
  private events: ProtocolEvent[] = [];

  constructor(
    private readonly ctx: CoreContext,
    config: HotStuffConfig,
    recovered?: RecoveredState,
  ) {
    this.cfg = resolveConfig(config);
    const n = ctx.validators.validators.length;
    assertBftSize(n, Math.max(1, faultTolerance(n)));
    this.self = ctx.self;
    if (!ctx.validators.has(ctx.self)) throw new ConfigError('self', `"${ctx.self}" is not in the validator set`);
    const { chainId, hasher } = this.cfg;
    this.scheme = this.cfg.certificates({ validators: ctx.validators, verifier: ctx.verifier, chainId, signer: ctx.signer, self: ctx.self });
    this.stateHasher = hasher.algorithm === 'sha256' ? hasher : (ctx.hasher ?? sha256Hasher);
    this.election = this.cfg.leaderElection({ validators: ctx.validators, chainId, hasher });
    this.quorum = quorumPower(ctx.validators.totalPower);
    this.weak = weakQuorumPower(ctx.validators.totalPower);
    this.chainLength = this.cfg.commitRule === 'three-chain' ? 3n : 2n;
    this.genesisQC = genesisQC(hasher, chainId);
    this.lockedQC = this.genesisQC;
    this.highQC = this.genesisQC;
    const g = genesisBlock(hasher, chainId);
    this.root = this.makeNode(g, this.genesisQC.block);
    this.tree.set(this.root.key, this.root);
    if (recovered) this.recover(recovered);
    // We may have missed the last proposals while down (or, new, everything so far): ask everyone
    // for their high QC and certified checkpoint, and fetch the blocks our own high QC certifies
    // (the tree restarts from the committed root). In an idle cluster nothing else would tell us.
    this.send.push({ to: 'all', msg: { type: 'status', highQC: this.highQC, reply: true } });
    this.armStateTimer();
    if (this.cfg.statusIntervalMs > 0) this.timers.push({ op: 'set', id: STATUS_TIMER, ms: this.cfg.statusIntervalMs });
    if (recovered && this.highQC.height > this.committedHeight) this.wantBlock(this.highQC.block, undefined);
  }

  // ---------------------------------------------------------------- public API

  step(input: Input<HotStuffMessage>): void {
    switch (input.type) {
      case 'message':
        this.onMessage(input.from, input.msg);
        break;
      case 'request':
        // From the runtime. Dropped, with nobody to blame, if the codec could not carry its
        // signature or `clientAuth` refuses it (the runtime checks at admission, so only a runtime
        // without clientAuth or with another key directory lets one through).
        if (authEncodable(input.request)) this.addRequest(input.request, this.cfg.forwardRequests);
        break;
      case 'timeout':
        if (input.timer === VIEW_TIMER) {
          this.timerView = undefined;
          this.onLocalTimeout();
        } else if (input.timer === STATE_TIMER) {
          this.stateTimerArmed = false;
          this.onStateTick();
        } else if (input.timer === STATUS_TIMER && this.cfg.statusIntervalMs > 0) {
          // Quiet when idle holds for proposals and view timers, not for this probe: a replica
          // that missed the last commits while cut off learns of them from the answer (`onStatus`)
          // even when nothing else will ever be sent to it.
          this.send.push({ to: this.randomPeer(), msg: { type: 'status', highQC: this.statusQC(), reply: true } });
          this.timers.push({ op: 'set', id: STATUS_TIMER, ms: this.cfg.statusIntervalMs });
        }
        break;
      case 'persisted':
        // Durability is ordered by the runtime (persist before send); nothing waits on the ack.
        break;
      case 'stop':
        // Every vote is durable before it is sent: a restart needs no record of a clean stop.
        return;
      case 'applied': {
        // The state at `height` is stored: blocks up to it need never be replayed, so the log
        // keeps only the last `syncWindow` of them (what peers may still ask for in block sync).
        // Never past what we committed, whatever the input says.
        const h = input.height < this.committedHeight ? input.height : this.committedHeight;
        const to = h - BigInt(this.cfg.syncWindow) + 1n;
        if (this.cfg.snapshotInterval > 0 && to > this.compactTarget) this.compactTarget = to;
        if (input.height === h) this.onApplied(h, input.stateDigest, input.snapshot);
        break;
      }
    }
    this.afterStep();
  }

  hasReady(): boolean {
    return (
      this.outRestore !== undefined ||
      this.rootRecord !== undefined ||
      this.hardDirty ||
      this.compactTarget > this.compactedTo ||
      this.append.length > 0 ||
      this.send.length > 0 ||
      this.commits.length > 0 ||
      this.timers.length > 0 ||
      this.events.length > 0 ||
      this.forwardQueue.length > 0
    );
  }

  ready(): Ready<HotStuffMessage> {
    if (this.outRestore) {
      // A transferred state goes out alone, before anything that builds on it: the runtime installs
      // it and stores it as its snapshot, and only the next Ready rewrites the log to start at its
      // block, stores a hard state above it, applies the commits after it and sends votes. A crash
      // in between leaves the old log with a newer snapshot, which recovery handles as a replica
      // behind (see `install`); the other order would leave a log whose first block lies above
      // the stored state, which nothing could replay.
      const r: Ready<HotStuffMessage> = { restore: this.outRestore, send: [], commit: [], timers: [], events: this.events };
      this.outRestore = undefined;
      this.events = [];
      return r;
    }
    if (this.forwardQueue.length > 0) {
      // One block's worth per message, by count and by bytes (frames have a size limit).
      for (const requests of requestBatches(this.forwardQueue, this.cfg.maxBlockCommands, this.cfg.maxBlockBytes)) {
        this.send.push({ to: 'all', msg: { type: 'requests', requests } });
      }
      this.forwardQueue = [];
    }
    let persist: Ready<HotStuffMessage>['persist'];
    let compactTo: bigint | undefined;
    if (this.compactTarget > this.compactedTo) {
      const step = this.compactedTo + MAX_COMPACT_STEP;
      compactTo = this.compactTarget < step ? this.compactTarget : step;
      this.compactedTo = compactTo;
    }
    if (this.rootRecord) {
      // After a state transfer: the log becomes the installed block alone (its commit proof), then
      // what was committed above it; the hard state's uncommitted blocks now start above it too.
      const root = this.rootRecord;
      this.rootRecord = undefined;
      this.persistId += 1n;
      persist = { id: this.persistId, hardState: this.encodeHardState(), truncateFrom: 0n, append: [root, ...this.append], compactTo: root.index };
    } else if (this.hardDirty || compactTo !== undefined || this.append.length > 0) {
      this.persistId += 1n;
      persist = {
        id: this.persistId,
        ...(this.hardDirty ? { hardState: this.encodeHardState() } : {}),
        append: this.append,
        ...(compactTo !== undefined ? { compactTo } : {}),
      };
    }
    const r: Ready<HotStuffMessage> = {
      ...(persist ? { persist } : {}),
      send: this.send,
      commit: this.commits,
      timers: this.timers,
      events: this.events,
    };
    this.hardDirty = false;
    this.append = [];
    this.send = [];
    this.commits = [];
    this.timers = [];
    this.events = [];
    return r;
  }

  status(): CoreStatus {
    const leader = this.leaderOf(this.curView);
    return {
      protocol: 'hotstuff',
      node: this.self,
      view: this.curView,
      ...(leader !== undefined ? { leader } : {}),
      committedHeight: this.committedHeight,
      role: leader === this.self ? 'leader' : 'replica',
      detail: {
        commitRule: this.cfg.commitRule,
        highQCView: this.highQC.view,
        lockedQCView: this.lockedQC.view,
        lastVotedView: this.lastVotedView,
        treeSize: this.tree.size,
        committedWindow: this.committedWindow.size,
        mempool: this.mempool.size,
        pendingProposals: this.pendingTotal,
        fetchedBlocks: this.fetched.size,
        timeoutMs: this.timeoutMs(),
        trackedViews: this.votes.size + this.timeouts.size + this.seenProposals.size,
        wantedBlocks: this.wanted.size,
        durableBlocks: this.durableCount,
        checkpointHeight: this.bestCheckpoint?.height ?? 0n,
        servedStateHeight: this.served[this.served.length - 1]?.height ?? 0n,
        stateTransferHeight: this.transfer?.height ?? 0n,
      },
    };
  }

  // ---------------------------------------------------------------- dispatch

  private onMessage(from: NodeId, msg: HotStuffMessage): void {
    if (!this.ctx.validators.has(from)) {
      this.misbehaviour(from, 'unknown-sender', `${msg?.type ?? 'message'} from a non-member`);
      return;
    }
    try {
      switch (msg.type) {
        case 'proposal':
          this.onProposal(from, msg.block, msg.signature, msg.tc);
          break;
        case 'vote':
          this.onVote(from, msg.view, msg.height, msg.block, msg.share);
          break;
        case 'timeout':
          this.onTimeout(from, msg);
          break;
        case 'request-blocks':
          this.onRequestBlocks(from, msg.hash, msg.count);
          break;
        case 'blocks':
          this.onBlocks(from, msg.blocks);
          break;
        case 'requests':
          this.onRequests(from, msg.requests);
          break;
        case 'status':
          this.onStatus(from, msg.highQC, msg.reply);
          break;
        case 'checkpoint':
          this.onCheckpoint(from, msg);
          break;
        case 'request-state':
          this.onRequestState(from, msg.height, msg.offset, msg.length);
          break;
        case 'state':
          this.onState(from, msg);
          break;
        default:
          this.misbehaviour(from, 'malformed', 'unknown message type');
      }
    } catch (err) {
      // Bad peer input never crashes the core: a forged certificate or malformed field ends here.
      if (err instanceof CertificateError) this.misbehaviour(from, 'invalid-signature', err.message);
      else if (err instanceof DecodeError) this.misbehaviour(from, 'malformed', err.message);
      else throw err;
    }
  }

  /** Runs after every input: loopback messages, proposing, timers (one place, no re-entrancy). */
  private afterStep(): void {
    for (let guard = 0; guard < 1000; guard++) {
      while (this.loopback.length > 0) {
        const { from, msg } = this.loopback.shift()!;
        this.onMessage(from, msg);
      }
      this.tryPropose();
      if (this.loopback.length === 0) break;
    }
    this.refreshTimer();
  }

  // ---------------------------------------------------------------- proposals (HotStuff Alg.4 onReceiveProposal)

  private onProposal(from: NodeId, b: Block, signature: Uint8Array, tc: TimeoutCert | undefined): void {
    if (b.proposer !== from) {
      this.misbehaviour(from, 'protocol-violation', `proposal by "${b.proposer}" relayed by "${from}"`);
      return;
    }
    if (b.height <= this.committedHeight) return; // stale: already decided at that height
    const fault = proposalFault(b, tc, this.cfg);
    if (fault !== undefined) {
      this.misbehaviour(from, 'protocol-violation', fault);
      return;
    }
    // An election that reads the certified parent waits for it: the check is repeated in
    // handleProposal, which runs only once the parent is in the tree.
    const parentNode = this.tree.get(toHex(b.parent));
    const deferEligibility = !parentNode && this.election.usesEntry === true && !tc && b.justify.view + 1n === b.view;
    if (!deferEligibility && !this.eligibleProposer(b, parentNode, tc)) {
      this.misbehaviour(from, 'protocol-violation', `not a leader of view ${b.view}`);
      return;
    }
    const { hash, cmdDigest } = blockHashParts(this.cfg.hasher, b);
    const vote: SignedVote = { ...proposalBody(b, hash), voter: from, signature };
    if (from !== this.self && !verifyVote(vote, this.ctx.validators, this.ctx.verifier, this.cfg.chainId)) {
      this.misbehaviour(from, 'invalid-signature', `proposal for view ${b.view}`);
      return;
    }
    this.verifyQC(b.justify);
    if (tc) this.verifyTC(tc);
    this.processQC(b.justify, from);
    if (tc) this.processTC(tc, from);
    if (from !== this.self) {
      // Remembered only once its QC or TC proved view b.view - 1 real (processing it moved us to
      // b.view): before, any replica could add an entry per message for views that never come,
      // a forged QC being refused only after this point, growing memory without bound.
      // Two signed proposals for one view from one proposer: equivocation evidence.
      let byProposer = this.seenProposals.get(b.view);
      if (!byProposer) this.seenProposals.set(b.view, (byProposer = new Map()));
      const first = byProposer.get(from);
      if (first) {
        if (!bytesEqual(first.digest, hash)) this.equivocation(from, first, vote, 'two proposals');
        return;
      }
      byProposer.set(from, vote);
      // Client signatures: vote for a block only if its client signed every command in it, or a
      // Byzantine leader could order commands no client sent. Refused like any invalid proposal:
      // not inserted, no vote, the view times out. Checked once, here, before the block is queued
      // for a missing parent or inserted: a block already in the tree was checked when it arrived
      // or came certified through sync (see `onBlocks`), and our own proposals are cut from
      // commands the pool admitted after `check`. A re-sent copy of a proposal ends above (same
      // hash), so even one carrying other signatures is not checked again.
      if (this.cfg.clientAuth && !this.tree.has(toHex(hash))) {
        const refused = this.unsignedCommand(b);
        if (refused !== undefined) {
          if (refused.unknown) this.ctx.logger?.warn({ from, view: String(b.view), why: refused.why }, 'hotstuff: refused a proposal with a command of a client this replica does not know (client directories out of step?)');
          else this.misbehaviour(from, 'invalid-signature', `proposal for view ${b.view}: ${refused.why}`);
          return;
        }
      }
    }
    const parentKey = toHex(b.parent);
    if (!this.tree.has(parentKey)) {
      this.queueProposal({ from, block: b, hash, cmdDigest, tc }, parentKey);
      this.wantBlock(b.parent, from);
      return;
    }
    this.handleProposal({ from, block: b, hash, cmdDigest, tc });
  }

  /** The proposal's parent is in the tree: insert it, then vote if the safety rules allow. */
  private handleProposal(p: PendingProposal): void {
    const { block: b, hash, tc } = p;
    const parent = this.tree.get(toHex(b.parent));
    if (!parent) return;
    if (!this.eligibleProposer(b, parent, tc)) {
      this.misbehaviour(p.from, 'protocol-violation', `not a leader of view ${b.view}`);
      return;
    }
    if (parent.block.view !== b.justify.view) {
      this.misbehaviour(p.from, 'protocol-violation', 'QC view does not match the certified block');
      return;
    }
    this.insertBlock(b, hash, p.cmdDigest);
    this.processQC(b.justify, p.from);
    // HotStuff Alg.4 L17: vote once per view (vheight/last voted view), only if safeNode holds.
    if (b.view === this.curView && b.view > this.lastVotedView && this.safeToVote(b, tc)) this.castVote(b, hash);
  }

  /**
   * Why the first command of `commands` that `clientAuth` refuses is refused, or undefined. A
   * command already pending here passed `check` when the pool admitted it, and a committed one
   * was certified: same (client, seq, payload), so it is genuine whatever signature this copy
   * carries, and is not checked twice (gossip usually brings a block's commands before it).
   */
  private unsignedCommand(b: Block): { why: string; unknown: boolean } | undefined {
    const auth = this.cfg.clientAuth;
    if (!auth) return undefined;
    const commands = b.commands;
    const keys = commandKeys(b);
    for (let i = 0; i < commands.length; i++) {
      const c = commands[i]!;
      const k = keys[i]!;
      if (this.mempool.has(k) || this.committedKeys.has(k)) continue;
      const why = auth.check(c);
      if (why !== undefined) return { why: `command ${i}: ${why}`, unknown: this.unknownClient(c) };
    }
    return undefined;
  }

  /**
   * A command of a client our directory lacks: refused, but not proof against the sender (see
   * `unknownClient` in @phalanx/interface). The view timer still covers a leader that proposes such
   * commands on purpose.
   */
  private unknownClient(r: ClientRequest): boolean {
    return unknownClient(this.cfg.clientAuth, r);
  }

  /**
   * Voting rule. Three-chain: HotStuff Alg.1 safeNode — the block extends the locked block
   * (safety) or its QC is newer than the lock (liveness). Two-chain: Jolteon §4 — the QC is from
   * the previous view, or the proposal carries a TC of the previous view and its QC is at least
   * as high as the TC's high QC (so it extends anything a 2-chain could have committed).
   */
  private safeToVote(b: Block, tc: TimeoutCert | undefined): boolean {
    if (this.cfg.commitRule === 'three-chain') {
      return b.justify.view > this.lockedQC.view || this.extendsBlock(b, this.lockedQC);
    }
    if (b.justify.view + 1n === b.view) return true;
    return tc !== undefined && tc.view + 1n === b.view && b.justify.view >= tc.highQC.view;
  }

  /**
   * Whether `b.proposer` may propose `b`. A proposal justified by a QC of the view before (and no
   * TC) is judged with that QC's block (`parent`) as the view's entry; one carrying a TC without
   * it, even when its QC is from the view before (the proposer entered the view by the TC).
   */
  private eligibleProposer(b: Block, parent: TreeNode | undefined, tc: TimeoutCert | undefined): boolean {
    const entry = parent && !tc && b.justify.view + 1n === b.view ? this.entryAfter(parent) : undefined;
    return this.election.eligible(b.view, b.proposer, b.parent, b.election, entry);
  }

  /**
   * The entry into the view after `node`'s, for a QC over `node`: its proposer and the voters of
   * its justify QC. Undecodable or voter-less certificates give no voters (plain round-robin);
   * the same bytes give every replica the same answer.
   */
  private entryAfter(node: TreeNode): ViewEntry {
    if (!node.entry) {
      let voters: readonly NodeId[] = [];
      if (this.election.usesEntry && node.block.justify.sig.length > 0) {
        try {
          voters = this.scheme.signers?.(node.block.justify.sig) ?? [];
        } catch (err) {
          // Verified bytes decode; should a scheme still refuse them, every replica refuses alike.
          if (!(err instanceof DecodeError || err instanceof CertificateError)) throw err;
          voters = [];
        }
      }
      node.entry = { proposer: node.block.proposer, voters };
    }
    return node.entry;
  }

  /** The leader of `view` as this replica sees it: with its entry when view-1 ended with a QC over a block it holds. */
  private leaderOf(view: bigint): NodeId | undefined {
    let entry: ViewEntry | undefined;
    if (this.election.usesEntry && view === this.curView && this.enteredByQC && this.highQC.view + 1n === view) {
      const node = this.findBlock(toHex(this.highQC.block));
      if (node) entry = this.entryAfter(node);
    }
    return this.election.leader(view, entry);
  }

  private extendsBlock(b: Block, qc: QuorumCert): boolean {
    if (qc.height <= this.committedHeight) return true; // every tree block descends from the committed root
    let key = toHex(b.parent);
    for (;;) {
      const node = this.tree.get(key);
      if (!node) return false;
      if (node.block.height === qc.height) return bytesEqual(node.hash, qc.block);
      if (node.block.height < qc.height) return false;
      key = toHex(node.block.parent);
    }
  }

  private castVote(b: Block, hash: Uint8Array): void {
    this.lastVotedView = b.view;
    this.hardDirty = true; // durable before the vote leaves (Ready ordering rule)
    const voted = this.tree.get(toHex(hash));
    // The block goes into the same hard state as the vote: a QC on it (2f+1 votes) then implies
    // f+1 correct replicas that can serve it after any restart (see `durableBlocks`).
    if (voted) voted.keep = true;
    const share = this.scheme.sign(qcBody({ view: b.view, height: b.height, block: hash }));
    const msg: HotStuffMessage = { type: 'vote', view: b.view, height: b.height, block: hash, share };
    // HotStuff Alg.4 L20: send the vote to the leader of the next view. With `voteTargets: 2` also
    // to the leader after it, so a crashed next leader does not lose the QC: the one after forms
    // it and proposes on it after the TC, completing a three-chain that would otherwise need four
    // live leaders in a row (with n = 4 and one crash, round-robin would never commit).
    // The next view is entered with a QC over b, so its leader follows from b; the one after
    // that (the fallback target) is entered by a TC and has no entry.
    const node = this.election.usesEntry ? voted : undefined;
    const targets = this.voteTargetsFor(b.view, node ? this.entryAfter(node) : undefined);
    if (!targets) {
      this.send.push({ to: 'all', msg });
      this.loopback.push({ from: this.self, msg });
      return;
    }
    for (const t of targets) {
      if (t === this.self) this.loopback.push({ from: this.self, msg });
      else this.send.push({ to: t, msg });
    }
  }

  // ---------------------------------------------------------------- votes → QC (HotStuff Alg.4 onReceiveVote)

  private onVote(from: NodeId, view: bigint, height: bigint, block: Uint8Array, share: Uint8Array): void {
    if (!this.aggregatesFor(view, block)) return; // not ours to aggregate
    if (view <= this.formedQCView || view + 1n < this.curView) return; // QC formed already, or stale
    if (view > this.curView + BigInt(this.cfg.maxFutureViews)) {
      this.misbehaviour(from, 'future', `vote for view ${view}`);
      return;
    }
    const body: VoteBody = qcBody({ view, height, block });
    let state = this.votes.get(view);
    const first = state?.first.get(from);
    if (first && bytesEqual(first.digest, block) && first.height === height) return; // duplicate
    if (from !== this.self && !this.scheme.verifyShare(from, body, share)) {
      this.misbehaviour(from, 'invalid-signature', `vote for view ${view}`);
      return;
    }
    const vote: SignedVote = { ...body, voter: from, signature: share };
    if (first) {
      this.equivocation(from, first, vote, 'two votes');
      return;
    }
    if (!state) this.votes.set(view, (state = { first: new Map(), sets: new Map() }));
    state.first.set(from, vote);
    const setKey = `${height}`;
    let set = state.sets.get(setKey);
    if (!set) {
      set = new VoteSet({ validators: this.ctx.validators, chainId: this.cfg.chainId, kind: VOTE_KIND, height, round: view, threshold: this.quorum });
      state.sets.set(setKey, set);
    }
    const r = set.add(vote);
    if (r.status !== 'added' || !r.quorum) return;
    const cert = set.certificate(block);
    if (!cert) return;
    const qc: QuorumCert = { view, height, block, sig: this.scheme.combine(body, cert.votes.map((v) => ({ voter: v.voter, share: v.signature }))) };
    this.formedQCView = view;
    this.verifiedQCs.add(this.qcKey(qc));
    this.processQC(qc, from);
  }

  private aggregatesFor(view: bigint, block: Uint8Array): boolean {
    let entry: ViewEntry | undefined;
    if (this.election.usesEntry) {
      const node = this.tree.get(toHex(block));
      // Who leads view+1 follows from the voted block; without it, keep the vote (bounded per view and voter).
      if (!node) return true;
      entry = this.entryAfter(node);
    }
    const targets = this.voteTargetsFor(view, entry);
    return !targets || targets.includes(this.self);
  }

  /**
   * Where votes of `view` go (HotStuff Alg.4 L20 and `voteTargets`): the leader of view+1, entered
   * with the QC these votes form (hence `entry`), then the leaders of the views after it, entered
   * by a TC (no entry). Repeats are skipped, so an election that gives one replica view+1 and
   * view+2 still leaves `voteTargets` distinct holders of the votes. `undefined`: no designated
   * leader (every replica aggregates).
   */
  private voteTargetsFor(view: bigint, entry: ViewEntry | undefined): NodeId[] | undefined {
    const want = this.cfg.voteTargets;
    const out: NodeId[] = [];
    const limit = BigInt(want + this.ctx.validators.validators.length);
    for (let i = 1n; out.length < want && i <= limit; i++) {
      const next = this.election.leader(view + i, i === 1n ? entry : undefined);
      if (next === undefined) return undefined;
      if (!out.includes(next)) out.push(next);
    }
    return out;
  }

  // ---------------------------------------------------------------- certificates and the commit rule

  private qcKey(qc: QuorumCert): string {
    return `${qc.view}/${qc.height}/${toHex(qc.block)}/${toHex(this.cfg.hasher.digest(qc.sig))}`;
  }

  /** Throws CertificateError unless `qc` is the genesis QC or a valid certificate. Cached. */
  private verifyQC(qc: QuorumCert): void {
    if (isGenesisQC(qc, this.genesisQC)) return;
    if (qc.view === 0n) throw new CertificateError('only the genesis QC may have view 0');
    const key = this.qcKey(qc);
    if (this.verifiedQCs.has(key)) return;
    this.scheme.verify(qcBody(qc), qc.sig);
    this.verifiedQCs.add(key);
  }

  /** Throws CertificateError unless `tc` holds 2f+1 valid TIMEOUTs and its high QC is their highest. */
  private verifyTC(tc: TimeoutCert): void {
    let power = 0;
    let maxView = 0n;
    const seen = new Set<NodeId>();
    for (const v of tc.votes) {
      const member = this.ctx.validators.get(v.voter);
      if (!member || seen.has(v.voter)) throw new CertificateError(`TC: voter "${v.voter}" unknown or repeated`);
      seen.add(v.voter);
      const sv: SignedVote = { ...timeoutBody(tc.view, v.highQCView), voter: v.voter, signature: v.signature };
      if (v.voter !== this.self && !verifyVote(sv, this.ctx.validators, this.ctx.verifier, this.cfg.chainId)) {
        throw new CertificateError(`TC: timeout of "${v.voter}" does not verify`);
      }
      power += member.power;
      maxView = maxBig(maxView, v.highQCView);
    }
    if (power < this.quorum) throw new CertificateError(`TC for view ${tc.view} carries power ${power}, needs ${this.quorum}`);
    if (tc.highQC.view !== maxView) throw new CertificateError('TC: high QC is not the highest reported');
    this.verifyQC(tc.highQC);
  }

  /**
   * A verified QC arrived (in a proposal, a timeout, a TC, or formed from votes). HotStuff Alg.4
   * `update`: raise the high QC, move the lock, apply the commit rule; the pacemaker advances to
   * the view after the QC's.
   */
  private processQC(qc: QuorumCert, from?: NodeId): void {
    if (qc.view > this.highQC.view) {
      this.highQC = qc;
      this.hardDirty = true;
    }
    if (qc.view >= this.curView) this.advanceTo(qc.view + 1n, 'qc');
    const b = this.tree.get(toHex(qc.block));
    if (!b) {
      if (qc.height > this.committedHeight) this.wantBlock(qc.block, from);
      return;
    }
    const p = this.tree.get(toHex(b.block.parent));
    if (!p) return;
    if (this.cfg.commitRule === 'three-chain') {
      // Alg.4 L27: b_lock ← b' (the block b*.justify.node.justify.node) if it is higher.
      if (b.block.justify.view > this.lockedQC.view) {
        this.lockedQC = b.block.justify;
        this.hardDirty = true;
      }
      const g = this.tree.get(toHex(p.block.parent));
      // Alg.4 L28 + "consecutive views": g ← p ← b direct, views g, g+1, g+2, and b certified.
      if (g && b.block.view === p.block.view + 1n && p.block.view === g.block.view + 1n) this.commit(g, [p, b], qc);
    } else {
      if (qc.view > this.lockedQC.view) {
        this.lockedQC = qc;
        this.hardDirty = true;
      }
      // Jolteon §4: p ← b direct in consecutive views and b certified ⇒ p is final.
      if (b.block.view === p.block.view + 1n) this.commit(p, [b], qc);
    }
  }

  private processTC(tc: TimeoutCert, from?: NodeId): void {
    this.processQC(tc.highQC, from);
    if (!this.highTC || tc.view > this.highTC.view) this.highTC = tc;
    if (tc.view >= this.curView) this.advanceTo(tc.view + 1n, 'timeout-certificate');
  }

  private commit(target: TreeNode, above: readonly TreeNode[], qc: QuorumCert): void {
    if (target.block.height <= this.committedHeight) return;
    const chain: TreeNode[] = [];
    let x: TreeNode | undefined = target;
    while (x && x.block.height > this.committedHeight) {
      chain.push(x);
      x = this.tree.get(toHex(x.block.parent));
    }
    if (!x || x.key !== this.root.key) {
      // Only possible with more than f Byzantine replicas: refuse to fork our own log.
      this.ctx.logger?.error({ height: target.block.height }, 'hotstuff: conflicting commit refused');
      this.misbehaviour(target.block.proposer, 'protocol-violation', 'commit does not extend the committed chain');
      return;
    }
    chain.reverse();
    const aboveValues = above.map((n) => headerToValue(n.block, n.cmdDigest));
    for (let i = 0; i < chain.length; i++) {
      const node = chain[i]!;
      const between = chain.slice(i + 1).map((n) => headerToValue(n.block, n.cmdDigest));
      const proof = encodeCommitProof(this.cfg.chainId, this.cfg.commitRule, node.block, [...between, ...aboveValues], qc);
      // Every snapshotInterval-th height: the runtime stores the state and answers `applied`,
      // which lets the log be compacted (see the `applied` input).
      const mark = this.snapshotMark(node.block.height);
      this.commits.push({ height: node.block.height, requests: node.block.commands, proof, ...mark });
      this.append.push({ index: node.block.height, data: proof });
      if (mark.reportState) this.keepSnapshotProof(node.block.height, node.hash, proof);
      this.rememberCommitted(node, proof);
    }
    this.root = target;
    this.committedHeight = target.block.height;
    // The hard state's uncommitted blocks are those above the root: rewrite it in the same persist
    // as these log records, so a stored hard state always extends the log's last block.
    this.hardDirty = true;
    // A commit proves the network is timely again: drop the backoff to the base timeout, so
    // views of crashed or silent leaders cost little once the network has stabilised.
    this.backoff = 0;
    this.prune();
  }

  /** `reportState` on every `snapshotInterval`-th height: the runtime stores the state, then answers `applied`. */
  private snapshotMark(height: bigint): { reportState?: true } {
    return this.cfg.snapshotInterval > 0 && height % BigInt(this.cfg.snapshotInterval) === 0n ? { reportState: true } : {};
  }

  /** `record`: the block's log record (its commit proof), which the sync window keeps. */
  private rememberCommitted(node: TreeNode, record: Uint8Array): void {
    // Committed: the log holds it now, and the sync window keeps its record long after the hard
    // state dropped it.
    node.durable = undefined;
    if (!this.committedWindow.has(node.key)) {
      if (this.windowOrder.length < this.cfg.syncWindow) this.windowOrder.push(node.key);
      else {
        const gone = this.windowOrder[this.windowAt]!;
        this.committedWindow.delete(gone);
        if (this.windowNode?.key === gone) this.windowNode = undefined;
        this.windowOrder[this.windowAt] = node.key;
        this.windowAt = (this.windowAt + 1) % this.cfg.syncWindow;
      }
    }
    this.committedWindow.set(node.key, record);
    for (const k of commandKeys(node.block)) {
      this.committedKeys.add(k);
      this.mempool.delete(k);
    }
    blockKeys.delete(node.block); // the tree may still hold the root; its keys are not needed again
  }

  /**
   * Keeps the root and its descendants; every other branch is dropped. Commands stay in the
   * mempool until committed, so those of an abandoned fork are simply proposed again.
   */
  private prune(): void {
    const keep = new Set<string>([this.root.key]);
    const stack = [this.root.key];
    while (stack.length > 0) {
      const k = stack.pop()!;
      for (const c of this.children.get(k) ?? []) {
        if (!keep.has(c)) {
          keep.add(c);
          stack.push(c);
        }
      }
    }
    for (const k of [...this.tree.keys()]) {
      if (keep.has(k)) continue;
      this.tree.delete(k);
      this.children.delete(k);
    }
    for (const [k, list] of this.pending) {
      const live = list.filter((p) => p.block.height > this.committedHeight);
      for (const p of list) if (p.block.height <= this.committedHeight) this.unqueue(p.from);
      if (live.length === 0) this.pending.delete(k);
      else this.pending.set(k, live);
    }
    for (const [k, b] of this.fetched) if (b.height <= this.committedHeight) this.dropFetched(k, b);
    for (const k of [...this.wanted.keys()]) if (this.tree.has(k) || this.committedWindow.has(k)) this.wanted.delete(k);
  }

  private makeNode(block: Block, hash: Uint8Array, cmdDigest?: Uint8Array): TreeNode {
    return { block, hash, key: toHex(hash), cmdDigest: cmdDigest ?? commandsDigest(this.cfg.hasher, block) };
  }

  private insertBlock(b: Block, hash: Uint8Array, cmdDigest: Uint8Array): TreeNode {
    const key = toHex(hash);
    const existing = this.tree.get(key);
    if (existing) return existing;
    const node = this.attach(this.makeNode(b, hash, cmdDigest));
    this.wanted.delete(key);
    this.connectWaiting(key);
    return node;
  }

  /** Adds `node` under its parent, which is in the tree. */
  private attach(node: TreeNode): TreeNode {
    const b = node.block;
    this.tree.set(node.key, node);
    const pk = toHex(b.parent);
    let kids = this.children.get(pk);
    if (!kids) this.children.set(pk, (kids = new Set()));
    kids.add(node.key);
    if (b.commands.length > 0 && b.height > this.lastNonEmptyHeight) this.lastNonEmptyHeight = b.height;
    // The high QC's block arrived after its QC (fetched, or a QC formed from votes before the
    // proposal came): the hard state can now carry the chain up to it (see `durableBlocks`).
    if (bytesEqual(node.hash, this.highQC.block)) this.hardDirty = true;
    return node;
  }

  // ---------------------------------------------------------------- pacemaker

  /** Smallest exponent whose timeout reaches the cap: growing further would only delay shrinking. */
  private get maxBackoff(): number {
    const { baseTimeoutMs, maxTimeoutMs, backoffFactor } = this.cfg;
    if (backoffFactor <= 1) return 0;
    return Math.ceil(Math.log(maxTimeoutMs / baseTimeoutMs) / Math.log(backoffFactor));
  }

  private timeoutMs(): number {
    return Math.min(this.cfg.maxTimeoutMs, Math.round(this.cfg.baseTimeoutMs * this.cfg.backoffFactor ** this.backoff));
  }

  private advanceTo(view: bigint, reason: string): void {
    if (view <= this.curView) return;
    const from = this.curView;
    this.curView = view;
    this.enteredByQC = reason === 'qc';
    // Exponential backoff shrinks again after a successful view (bounded below by the base).
    if (reason === 'qc' && this.backoff > 0) this.backoff -= 1;
    this.timerView = undefined;
    this.myTimeout = undefined;
    this.events.push({ type: 'view-change', from, to: view, reason });
    const leader = this.leaderOf(view);
    if (leader !== undefined) this.events.push({ type: 'leader', view, leader });
    for (const v of this.timeouts.keys()) if (v < view) this.timeouts.delete(v);
    for (const v of this.votes.keys()) if (v + 1n < view) this.votes.delete(v);
    for (const v of this.seenProposals.keys()) if (v + 8n < view) this.seenProposals.delete(v);
  }

  /**
   * Is there anything left to drive? Pending commands, or a block with commands not yet committed
   * here. Otherwise an idle cluster goes quiet: no empty blocks, no timers.
   */
  private hasWork(): boolean {
    return this.mempool.size > 0 || this.lastNonEmptyHeight > this.committedHeight;
  }

  /**
   * A leader also proposes (empty) blocks until the QC that finalised the last non-empty block
   * has been carried to the others in a proposal's justify: they commit only when they see it.
   */
  private leaderHasWork(): boolean {
    return this.hasWork() || this.lastNonEmptyHeight + this.chainLength > this.highQC.height;
  }

  private refreshTimer(): void {
    const busy = this.hasWork() || this.wanted.size > 0 || this.pendingTotal > 0;
    if (busy) {
      if (this.timerView !== this.curView) {
        this.timerView = this.curView;
        this.timers.push({ op: 'set', id: VIEW_TIMER, ms: this.timeoutMs() });
      }
    } else if (this.timerView !== undefined) {
      this.timerView = undefined;
      this.timers.push({ op: 'cancel', id: VIEW_TIMER });
    }
  }

  /** The view timer fired: broadcast TIMEOUT (or re-broadcast it), stop voting in this view. */
  private onLocalTimeout(): void {
    const v = this.curView;
    // Every expiry without progress doubles the next timeout (capped at maxTimeoutMs).
    this.backoff = Math.min(this.backoff + 1, this.maxBackoff);
    if (this.timedOutView < v || !this.myTimeout) {
      this.timedOutView = v;
      // Jolteon §4: a replica that timed out in view v no longer votes in v.
      if (this.lastVotedView < v) {
        this.lastVotedView = v;
        this.hardDirty = true;
      }
      const signature = signVote(this.ctx.signer, this.cfg.chainId, this.self, timeoutBody(v, this.highQC.view)).signature;
      const tc = this.highTC && this.highTC.view + 1n === v ? this.highTC : undefined;
      this.myTimeout = { type: 'timeout', view: v, highQC: this.highQC, signature, ...(tc ? { tc } : {}) };
      this.loopback.push({ from: this.self, msg: this.myTimeout });
    }
    this.send.push({ to: 'all', msg: this.myTimeout });
    // Retry outstanding block requests at another peer (the one asked may be faulty).
    for (const hash of this.wanted.values()) this.send.push({ to: this.randomPeer(), msg: { type: 'request-blocks', hash, count: this.cfg.syncBatch } });
    // Blocks still missing a view later may be gone from every peer's sync window: ask one peer for
    // its status, whose answer carries its certified checkpoint (see `onStatus`), so a replica
    // that fell that far behind while the cluster went quiet still learns where to transfer from.
    if (this.wanted.size > 0 && this.cfg.snapshotInterval > 0) this.send.push({ to: this.randomPeer(), msg: { type: 'status', highQC: this.statusQC(), reply: true } });
  }

  private onTimeout(from: NodeId, m: Extract<HotStuffMessage, { type: 'timeout' }>): void {
    if (m.view < this.curView) {
      // The view is over here, but its QC may still be news: not a higher one (we left the view
      // with at least as high), but one certifying a block on another branch, which can finish a
      // chain the commit rule needs. Chained HotStuff (Yin et al., PODC'19, §5, Alg.4) applies
      // `update` — lock and commit rule — to every QC a replica learns, not only to its highest; a
      // QC is self-authenticating, so the view of the message carrying it does not matter. The
      // QC that finished a three-chain for the others may travel only in a TIMEOUT (formed from
      // votes by a replica that does not lead the next view): dropped here, this replica never
      // commits that block, and once the others go idle nobody proposes again and it stays
      // stuck with the block's commands pending (sim seed 0x1d, faults byzantine).
      if (from !== this.self && m.highQC.height > this.committedHeight) {
        this.verifyQC(m.highQC);
        this.processQC(m.highQC, from);
      }
      // A laggard: once per (peer, our view) hand it our own timeout, whose QC/TC lets it catch up;
      // without one (we left its view by a QC and have not timed out since, e.g. idle with nothing
      // pending) our high QC, if newer than its own. Staying silent is not an option: the laggard
      // keeps timing out alone in its old view, and with one Byzantine replica and one idle
      // replica no f+1 (let alone 2f+1) timeouts ever gather there (sim seed 0xb5, byzantine).
      // The pacemaker (PODC'19 §4.4/§5, Alg.5) brings replicas to one view by handing on the
      // highest QC; a laggard needs that QC from someone.
      // The STATUS answers every such TIMEOUT, not once: an idle replica's view never moves, so
      // "once per view" would be once for good, and a lost answer would strand the laggard again.
      // One message for one, to a validator whose TIMEOUTs come at its own timer's pace.
      if (from !== this.self) {
        if (this.myTimeout) {
          if (this.helped.get(from) !== this.curView) {
            this.helped.set(from, this.curView);
            this.send.push({ to: from, msg: this.myTimeout });
          }
        } else if (this.highQC.view > m.highQC.view) {
          this.send.push({ to: from, msg: { type: 'status', highQC: this.highQC, reply: false } });
        }
      }
      return;
    }
    if (m.view > this.curView + BigInt(this.cfg.maxFutureViews)) {
      this.misbehaviour(from, 'future', `timeout for view ${m.view}`);
      return;
    }
    if (this.timeouts.get(m.view)?.votes.has(from)) return;
    if (from !== this.self) {
      const sv: SignedVote = { ...timeoutBody(m.view, m.highQC.view), voter: from, signature: m.signature };
      if (!verifyVote(sv, this.ctx.validators, this.ctx.verifier, this.cfg.chainId)) {
        this.misbehaviour(from, 'invalid-signature', `timeout for view ${m.view}`);
        return;
      }
      this.verifyQC(m.highQC);
      if (m.tc) this.verifyTC(m.tc);
    }
    this.processQC(m.highQC, from);
    if (m.tc) this.processTC(m.tc, from);
    if (m.view < this.curView) return;
    let set = this.timeouts.get(m.view);
    if (!set) this.timeouts.set(m.view, (set = { votes: new Map(), high: m.highQC }));
    set.votes.set(from, { voter: from, highQCView: m.highQC.view, signature: m.signature });
    if (m.highQC.view > set.high.view) set.high = m.highQC;
    let power = 0;
    for (const id of set.votes.keys()) power += this.ctx.validators.get(id)!.power;
    // Bracha-style amplification: f+1 timeouts for a view mean an honest replica gave up on it.
    if (power >= this.weak && this.timedOutView < m.view) {
      this.advanceTo(m.view, 'timeout-join');
      this.onLocalTimeout();
      return; // our own timeout comes back through loopback and is counted then
    }
    if (power >= this.quorum) {
      const votes = [...set.votes.values()].sort((a, b) => this.ctx.validators.indexOf(a.voter) - this.ctx.validators.indexOf(b.voter));
      const tc: TimeoutCert = { view: m.view, highQC: set.high, votes };
      this.processTC(tc, from);
    }
  }

  /** Leader: propose in the current view once it holds a QC or TC for the previous one. */
  private tryPropose(): void {
    const v = this.curView;
    if (this.lastProposedView >= v || this.triedElectionView >= v) return;
    const viaQC = this.enteredByQC && this.highQC.view + 1n === v;
    const tc = !viaQC && this.highTC && this.highTC.view + 1n === v ? this.highTC : undefined;
    if (!viaQC && !tc) return;
    const parent = this.tree.get(toHex(this.highQC.block));
    // A high QC at or below our committed root (a wiped replica that installed a transferred state
    // still holds the genesis QC) certifies a block pruned here and served by nobody: asking for it
    // would keep a request, and the view timer, alive for ever. Wait for a newer QC instead.
    if (!parent && this.highQC.height <= this.committedHeight) return;
    if (!parent && viaQC && this.election.usesEntry) {
      this.wantBlock(this.highQC.block, undefined); // who leads v follows from that block
      return;
    }
    const entry = viaQC && parent ? this.entryAfter(parent) : undefined;
    const leader = this.election.leader(v, entry);
    if (leader !== undefined && leader !== this.self) return;
    if (!this.leaderHasWork()) return;
    if (!parent) {
      this.wantBlock(this.highQC.block, undefined);
      return;
    }
    const election = this.election.prove(v, this.self, parent.hash, this.ctx.rng, entry);
    this.triedElectionView = v;
    if (!election) return;
    // Commands already in the branch being extended are skipped. Only that branch: a Byzantine
    // leader's block on an abandoned fork must not hold its commands hostage.
    const inBranch = new Set<string>();
    for (let x: TreeNode | undefined = parent; x && x.block.height > this.committedHeight; x = this.tree.get(toHex(x.block.parent))) {
      for (const k of commandKeys(x.block)) inBranch.add(k);
    }
    const commands: ClientRequest[] = [];
    const keys: string[] = [];
    // Cut by bytes too: the proposal must fit the transport's frame (maxBlockBytes). Counted as
    // the codec writes it and as voters count it (`batchWireBytes`): a signed group once per
    // block, however many of its commands are in it (per command it would cut a block of one
    // 128-command group 128 times too early).
    const bytes = new BatchBytes();
    for (const [k, r] of this.mempool) {
      if (commands.length >= this.cfg.maxBlockCommands) break;
      if (inBranch.has(k)) continue;
      if (commands.length > 0 && bytes.total + bytes.cost(r) > this.cfg.maxBlockBytes) break;
      commands.push(r);
      keys.push(k);
      bytes.add(r);
    }
    const block: Block = {
      parent: parent.hash,
      height: parent.block.height + 1n,
      view: v,
      proposer: this.self,
      justify: this.highQC,
      election,
      commands,
    };
    blockKeys.set(block, keys);
    const { hash, cmdDigest } = blockHashParts(this.cfg.hasher, block);
    const signature = signVote(this.ctx.signer, this.cfg.chainId, this.self, proposalBody(block, hash)).signature;
    this.lastProposedView = v;
    this.hardDirty = true; // a restarted leader must not propose twice in a view
    const msg: HotStuffMessage = { type: 'proposal', block, signature, ...(viaQC ? {} : { tc: tc! }) };
    this.send.push({ to: 'all', msg });
    this.handleProposal({ from: this.self, block, hash, cmdDigest, tc: viaQC ? undefined : tc });
  }

  // ---------------------------------------------------------------- block sync

  private queueProposal(p: PendingProposal, parentKey: string): void {
    const mine = this.pendingPerPeer.get(p.from) ?? 0;
    if (mine >= this.cfg.maxPendingPerPeer || this.pendingTotal >= this.cfg.maxPendingProposals) return; // bounded
    const list = this.pending.get(parentKey) ?? [];
    if (list.some((x) => bytesEqual(x.hash, p.hash))) return;
    list.push(p);
    this.pending.set(parentKey, list);
    this.pendingPerPeer.set(p.from, mine + 1);
    this.pendingTotal += 1;
  }

  private unqueue(from: NodeId): void {
    const n = (this.pendingPerPeer.get(from) ?? 1) - 1;
    if (n <= 0) this.pendingPerPeer.delete(from);
    else this.pendingPerPeer.set(from, n);
    this.pendingTotal -= 1;
  }

  private randomPeer(): NodeId {
    const others = this.ctx.validators.validators.filter((v) => v.id !== this.self);
    return others[this.ctx.rng.nextInt(others.length)]!.id;
  }

  private wantBlock(hash: Uint8Array, from: NodeId | undefined): void {
    const key = toHex(hash);
    if (this.tree.has(key) || this.fetched.has(key) || this.wanted.has(key) || this.wanted.size >= MAX_WANTED) return;
    this.wanted.set(key, hash);
    const to = from !== undefined && from !== this.self ? from : this.randomPeer();
    this.send.push({ to, msg: { type: 'request-blocks', hash, count: this.cfg.syncBatch } });
  }

  private findBlock(key: string): TreeNode | undefined {
    const node = this.tree.get(key);
    if (node) return node;
    if (this.windowNode?.key === key) return this.windowNode;
    const record = this.committedWindow.get(key);
    if (!record) return undefined;
    // Our own record (built at commit, or read back from our log): trusted, not re-verified.
    const { block, hash, cmdDigest } = proofBlock(record, this.cfg.hasher);
    return (this.windowNode = this.makeNode(block, hash, cmdDigest));
  }

  private onRequestBlocks(from: NodeId, hash: Uint8Array, count: number): void {
    const blocks: Block[] = [];
    let node = this.findBlock(toHex(hash));
    const limit = Math.min(count, this.cfg.syncBatch);
    let bytes = 0;
    while (node && node.block.height > 0n && blocks.length < limit) {
      // At most one block's worth of command bytes per answer (at least one block): it must fit a frame.
      const size = batchWireBytes(node.block.commands);
      if (blocks.length > 0 && bytes + size > this.cfg.maxBlockBytes) break;
      blocks.push(node.block);
      bytes += size;
      // Not one block further than the answer takes: a window block is decoded to be looked at.
      node = blocks.length < limit ? this.findBlock(toHex(node.block.parent)) : undefined;
    }
    if (blocks.length > 0) this.send.push({ to: from, msg: { type: 'blocks', blocks } });
  }

  /**
   * Block sync answer. Only blocks we asked for are taken: the first must be a wanted hash and
   * each next one the parent of the previous, so every accepted block is authenticated by a hash
   * chain from a certificate we verified (and certified blocks were checked by 2f+1 voters).
   *
   * Client signatures (`clientAuth`) are deliberately not checked here. Each block taken is
   * certified (by the QC we verified, or by its child's justify along the hash chain). In chained
   * HotStuff (Yin et al., PODC'19, §4, Algorithm 3) a QC is 2f+1 votes, and a replica votes for
   * `m.node` only when its voting rule accepts the proposal (there `safeNode(m.node,
   * m.node.justify)`; here also every command passing `clientAuth`, in `onProposal`). Of 2f+1
   * voters at least f+1 are honest, so commands in a certified block were checked by an honest
   * replica before it could be certified. Re-checking could only refuse a block the chain already
   * depends on (stalling this replica), and would refuse genuine ones: signatures are not part of
   * the block hash, and blocks read back from storage (the log's commit proofs and the hard
   * state's uncommitted blocks frame bare commands) no longer carry them, so a restarted peer
   * serves its blocks unsigned.
   */
  private onBlocks(from: NodeId, blocks: readonly Block[]): void {
    let expect: string | undefined;
    let last: Block | undefined;
    for (const b of blocks) {
      const hash = blockHash(this.cfg.hasher, b);
      const key = toHex(hash);
      if (expect === undefined ? !this.wanted.has(key) : key !== expect) break;
      this.wanted.delete(key);
      if (b.height <= this.committedHeight || this.tree.has(key)) break;
      if (b.commands.length > this.cfg.maxBlockCommands || b.height !== b.justify.height + 1n || !bytesEqual(b.parent, b.justify.block)) {
        this.misbehaviour(from, 'protocol-violation', 'malformed block in sync answer');
        break;
      }
      if (!this.fetched.has(key)) {
        if (this.fetched.size >= this.cfg.maxFetchedBlocks) break;
        this.fetched.set(key, b);
        const pk = toHex(b.parent);
        let s = this.fetchedByParent.get(pk);
        if (!s) this.fetchedByParent.set(pk, (s = new Set()));
        s.add(key);
      }
      last = b;
      expect = toHex(b.parent);
      if (this.tree.has(expect)) break;
    }
    if (last) {
      const pk = toHex(last.parent);
      if (this.tree.has(pk)) this.connectWaiting(pk);
      else if (last.height - 1n > this.committedHeight && !this.fetched.has(pk)) this.wantBlock(last.parent, from);
    }
  }

  private dropFetched(key: string, b: Block): void {
    this.fetched.delete(key);
    const pk = toHex(b.parent);
    const s = this.fetchedByParent.get(pk);
    if (s) {
      s.delete(key);
      if (s.size === 0) this.fetchedByParent.delete(pk);
    }
  }

  /** `key` is now in the tree: connect fetched blocks and queued proposals that waited on it. */
  private connectWaiting(key: string): void {
    const work = [key];
    while (work.length > 0) {
      const k = work.pop()!;
      const parent = this.tree.get(k);
      if (!parent) continue;
      for (const ck of [...(this.fetchedByParent.get(k) ?? [])]) {
        const b = this.fetched.get(ck)!;
        this.dropFetched(ck, b);
        if (b.justify.view !== parent.block.view || b.view <= parent.block.view) continue;
        // Insert without re-entering connectWaiting (we continue from the worklist instead).
        if (!this.tree.has(ck)) {
          const parts = blockHashParts(this.cfg.hasher, b);
          this.attach(this.makeNode(b, parts.hash, parts.cmdDigest));
        }
        this.processQC(b.justify);
        work.push(ck);
      }
      const waiting = this.pending.get(k);
      if (waiting) {
        this.pending.delete(k);
        for (const p of waiting) {
          this.unqueue(p.from);
          this.handleProposal(p);
        }
      }
    }
    // A QC we hold may certify a block that just arrived: re-apply the commit rule.
    if (this.tree.has(toHex(this.highQC.block))) this.processQC(this.highQC);
  }

  /** A peer tells us its high QC (after its restart, or answering ours). */
  private onStatus(from: NodeId, qc: QuorumCert, reply: boolean): void {
    if (from !== this.self) this.verifyQC(qc);
    this.processQC(qc, from);
    // Answer only when we know more, one answer per ask (no amplification). Every ask, not once per
    // (peer, our high QC): an asker that still sends a lower QC lost our answer, or restarted with a
    // wiped disk since, and without the QC it cannot fetch the blocks above its installed state.
    if (reply && this.highQC.view > qc.view) {
      this.send.push({ to: from, msg: { type: 'status', highQC: this.highQC, reply: false } });
    }
    // A replica asking for our status may be behind the blocks anyone still keeps: hand it our best
    // certified checkpoint too, the start of a state transfer.
    // Once per peer and state tick, not once for good: a replica that restarts, or crashes half-way
    // through a transfer, must be told again in a cluster that went idle (no new checkpoints).
    const cp = this.bestCheckpoint;
    if (reply && from !== this.self && cp && !this.toldCheckpoint.has(from)) {
      // Told at once if its high QC is below what we committed (it is behind). One that knows a QC
      // as high is told on its first ask and then every CHECKPOINT_RETELL-th: it may have learned
      // that QC without the blocks below it and lost our checkpoint, but otherwise every idle
      // status probe (`statusIntervalMs`) would cost a CHECKPOINT message and a state tick.
      const asks = (this.statusAsks.get(from) ?? 0) + 1;
      this.statusAsks.set(from, asks);
      if (qc.height < this.committedHeight || asks % CHECKPOINT_RETELL === 1) {
        this.toldCheckpoint.add(from);
        this.armStateTimer();
        this.send.push({ to: from, msg: { type: 'checkpoint', height: cp.height, block: cp.block, state: cp.state, size: cp.size, votes: cp.votes } });
      }
    }
  }

  /**
   * The QC a STATUS ask carries. Normally our high QC, which tells the peer what we know. But the
   * peer judges from it whether we are behind (`onStatus`), and a high QC whose blocks we miss (it
   * may have come in a STATUS answer, a TIMEOUT, or from a Byzantine peer) would make us look as far
   * along as the peer, who then re-tells its checkpoint only on one ask in 16. So while blocks we
   * asked for are missing, or our high QC is further above what we committed than the commit rule
   * leaves (we are missing commits), we send the genesis QC, which any peer reads as behind: it
   * answers with its high QC and its checkpoint at once.
   */
  private statusQC(): QuorumCert {
    if (this.cfg.snapshotInterval === 0) return this.highQC;
    const missing = this.wanted.size > 0 || this.highQC.height > this.committedHeight + this.chainLength + 1n;
    return missing ? this.genesisQC : this.highQC;
  }

  // ---------------------------------------------------------------- state transfer

  /*
   * A replica further behind than every peer's sync window (`syncWindow` committed blocks) cannot
   * replay the blocks it missed: nobody keeps them. It installs a recent application state
   * instead, as PBFT does with its checkpoints (Castro & Liskov, OSDI'99 §4.3 and TOCS'02 §6.2):
   *  - every replica signs a CHECKPOINT (height, block, state digest, state size) once the runtime
   *    has stored the state after each `snapshotInterval`-th committed block (`onApplied`);
   *  - f+1 matching signatures certify it: at least one honest replica computed that state after
   *    committing that block, and honest replicas agree on the committed chain and the application
   *    is deterministic, so it is the state every honest replica reaches there;
   *  - a replica behind a certified checkpoint fetches the state in pieces from one replica at a
   *    time (`onState`), checks the block's commit proof and the bytes against the digest, and
   *    installs it (`install`): the block becomes its committed root, and block sync continues
   *    from there within the window peers keep.
   * f+1, not 2f+1: a certificate must form while up to f validators are silent or Byzantine,
   * and its purpose is only to show that one honest replica vouches for the state.
   */

  private checkpointDigest(block: Uint8Array, state: Uint8Array, size: number): Uint8Array {
    return checkpointDigest(this.cfg.hasher, block, state, size);
  }

  /** Called for heights marked `reportState` only (so never with snapshots off). */
  private keepSnapshotProof(height: bigint, hash: Uint8Array, proof: Uint8Array): void {
    this.snapshotProofs.set(height, { hash, proof });
    if (this.snapshotProofs.size > KEPT_SNAPSHOT_PROOFS) {
      let low = height;
      for (const h of this.snapshotProofs.keys()) if (h < low) low = h;
      this.snapshotProofs.delete(low);
    }
  }

  /** The runtime stored the state after `height`: serve it, and sign a checkpoint for it. */
  private onApplied(height: bigint, state: Uint8Array, snapshot: Uint8Array | undefined): void {
    const p = this.snapshotProofs.get(height);
    if (!p || !(snapshot instanceof Uint8Array) || !(state instanceof Uint8Array) || state.length !== 32) return;
    this.snapshotProofs.delete(height);
    this.serveAndSign({ height, block: p.hash, state, snapshot, proof: p.proof, servedAtTick: Number.NEGATIVE_INFINITY });
  }

  private serveAndSign(s: ServedState): void {
    if (this.served.some((x) => x.height >= s.height)) return;
    this.serve(s);
    const size = s.snapshot.length;
    const digest = this.checkpointDigest(s.block, s.state, size);
    const signature = signVote(this.ctx.signer, this.cfg.chainId, this.self, checkpointBody(s.height, digest)).signature;
    this.send.push({ to: 'all', msg: { type: 'checkpoint', height: s.height, block: s.block, state: s.state, size, votes: [{ voter: this.self, signature }] } });
    this.countCheckpointVote(this.self, s.height, s.block, s.state, size, signature);
  }

  /**
   * Keeps `s` to serve, with the state before it and any older one a peer fetched from in this or
   * the last state tick: under load a new snapshot comes every few seconds, and a transfer of a
   * large state must not lose its source's copy half-way (at most three states in memory).
   */
  private serve(s: ServedState): void {
    const cp = this.bestCheckpoint;
    if (cp && certifies(cp, s)) s.votes = cp.votes;
    const older = this.served.filter((x) => x.height < s.height);
    const keep = older.filter((x, i) => i === older.length - 1 || x.servedAtTick >= this.stateTick - 1);
    this.served = [...keep.slice(-2), s];
  }

  private onCheckpoint(from: NodeId, m: Extract<HotStuffMessage, { type: 'checkpoint' }>): void {
    const interval = BigInt(this.cfg.snapshotInterval);
    if (interval === 0n) return; // no snapshots here, so no state transfer either
    if (m.height === 0n || m.height % interval !== 0n) {
      this.misbehaviour(from, 'protocol-violation', `checkpoint at height ${m.height}, not a multiple of snapshotInterval`);
      return;
    }
    const digest = this.checkpointDigest(m.block, m.state, m.size);
    const only = m.votes.length === 1 ? m.votes[0]! : undefined;
    if (only && only.voter === from) {
      // One replica's own vote. Only its latest counts (bounded memory); an older or repeated one is
      // ignored unread, and so is a second vote for the same height (an honest replica signs one).
      const prev = this.checkpointVotes.get(from);
      if (prev && prev.height >= m.height) return;
      const vote: SignedVote = { ...checkpointBody(m.height, digest), voter: from, signature: only.signature };
      if (!verifyVote(vote, this.ctx.validators, this.ctx.verifier, this.cfg.chainId)) {
        this.misbehaviour(from, 'invalid-signature', `checkpoint at height ${m.height}`);
        return;
      }
      this.countCheckpointVote(from, m.height, m.block, m.state, m.size, only.signature);
      return;
    }
    // A certificate (f+1 votes) relayed by a peer: verified only when it would teach us something.
    const best = this.bestCheckpoint;
    if (m.height <= this.committedHeight || (best && m.height <= best.height)) return;
    this.verifyCheckpointCert(m.height, digest, m.votes);
    this.certified({ height: m.height, block: m.block, state: m.state, size: m.size, votes: m.votes });
  }

  /** Throws CertificateError unless `votes` are f+1 (by power) valid signatures over the checkpoint `digest` at `height`. */
  private verifyCheckpointCert(height: bigint, digest: Uint8Array, votes: readonly CheckpointVote[]): void {
    verifyCertificate({ ...checkpointBody(height, digest), chainId: this.cfg.chainId, votes }, this.ctx.validators, this.ctx.verifier, { threshold: this.weak });
  }

  private countCheckpointVote(voter: NodeId, height: bigint, block: Uint8Array, state: Uint8Array, size: number, signature: Uint8Array): void {
    const key = toHex(this.checkpointDigest(block, state, size));
    this.checkpointVotes.set(voter, { height, key, signature });
    let power = 0;
    const votes: CheckpointVote[] = [];
    for (const [id, v] of this.checkpointVotes) {
      if (v.height !== height || v.key !== key) continue;
      power += this.ctx.validators.get(id)!.power;
      votes.push({ voter: id, signature: v.signature });
    }
    if (power < this.weak) return;
    votes.sort((a, b) => this.ctx.validators.indexOf(a.voter) - this.ctx.validators.indexOf(b.voter));
    this.certified({ height, block, state, size, votes });
  }

  private certified(cp: CertifiedCheckpoint): void {
    const best = this.bestCheckpoint;
    if (best && cp.height <= best.height) return;
    this.bestCheckpoint = cp;
    for (const s of this.served) if (certifies(cp, s)) s.votes = cp.votes;
    this.maybeCatchUp();
  }

  /** Whether the best certified checkpoint is one this replica should fetch. */
  private behind(cp: CertifiedCheckpoint | undefined): cp is CertifiedCheckpoint {
    if (!cp || cp.height <= this.committedHeight || cp.height < this.appliedFloor) return false;
    return this.fits(cp.height, cp.size);
  }

  /**
   * Whether a certified state of `size` bytes is within `maxStateBytes`. Our own limit, not a
   * peer's fault: a larger one is reported once per height and not fetched.
   */
  private fits(height: bigint, size: number): boolean {
    if (size <= this.cfg.maxStateBytes) return true;
    if (this.tooLargeAt !== height) {
      this.tooLargeAt = height;
      this.ctx.logger?.error({ height: String(height), size, maxStateBytes: this.cfg.maxStateBytes }, 'hotstuff: the certified state is larger than maxStateBytes; not fetching it');
    }
    return false;
  }

  /**
   * Behind the best certified checkpoint: by at least `syncWindow` blocks, no peer keeps what we
   * miss, so transfer now; by less, block sync may still do, so the state tick transfers only
   * after two ticks without a commit.
   */
  private maybeCatchUp(): void {
    const cp = this.bestCheckpoint;
    if (this.transfer || !this.behind(cp)) return;
    if (cp.height - this.committedHeight >= BigInt(this.cfg.syncWindow)) this.startTransfer(cp);
    else this.armStateTimer();
  }

  private armStateTimer(): void {
    if (this.stateTimerArmed) return;
    this.stateTimerArmed = true;
    this.timers.push({ op: 'set', id: STATE_TIMER, ms: this.cfg.stateTickMs });
  }

  private onStateTick(): void {
    this.stateTick += 1;
    this.piecesServed.clear();
    this.firstPiecesServed.clear();
    this.toldCheckpoint.clear();
    let t = this.transfer;
    if (t && t.height <= this.committedHeight) {
      // Block sync got there first: the state is no longer needed.
      this.transfer = t = undefined;
    }
    const cp = this.bestCheckpoint;
    if (this.statusProbes > 0) {
      this.statusProbes -= 1;
      this.send.push({ to: this.randomPeer(), msg: { type: 'status', highQC: this.statusQC(), reply: true } });
    }
    if (t) {
      // Progress is at least a piece of the size we ask for (or the rest) per tick: a source that
      // trickles a few bytes at a time counts as stalled, as one that sends nothing (PBFT does the
      // same).
      const wanted = t.buffer ? Math.min(this.cfg.stateChunkBytes, t.buffer.length - t.received) : 1;
      t.idleTicks = t.bytesThisTick >= wanted ? 0 : t.idleTicks + 1;
      // Two such ticks: the source crashed, withholds, or is too slow. Honest replicas all hold the
      // same state, so start over with the next one (one source per attempt: bytes that fail the
      // digest then always have a sender to blame). Otherwise ask again when nothing came (the
      // request or its answer may be lost) or when a tick's worth came (the source's budget for
      // its tick may have run out, leaving our last request unanswered); not after a few pieces,
      // when the answer to the last request is most likely still on its way.
      if (t.idleTicks >= 2) this.switchSource(t);
      else if (t.piecesThisTick === 0 || t.piecesThisTick >= MAX_PIECES_PER_TICK / 2) this.askPiece(t);
      t.bytesThisTick = 0;
      t.piecesThisTick = 0;
    } else if (this.behind(cp)) {
      this.stalledTicks = this.committedHeight === this.lastTickHeight ? this.stalledTicks + 1 : 0;
      if (this.stalledTicks >= 2) this.startTransfer(cp);
    }
    this.lastTickHeight = this.committedHeight;
    if (this.transfer || this.behind(cp) || this.statusProbes > 0 || this.served.some((s) => s.servedAtTick >= this.stateTick - 1)) this.armStateTimer();
  }

  private startTransfer(cp: CertifiedCheckpoint): void {
    const signers = cp.votes.map((v) => v.voter).filter((id) => id !== this.self);
    // Then everyone else: the signers may be f Byzantine and one honest replica that crashed,
    // while the other honest replicas hold the same state (every answer is checked anyway).
    const others = this.ctx.validators.validators.map((v) => v.id).filter((id) => id !== this.self && !signers.includes(id));
    const candidates = [...signers, ...others];
    if (candidates.length === 0) return;
    this.stalledTicks = 0;
    const source = signers.length > 0 ? signers[this.transferRound++ % signers.length]! : candidates[0]!;
    const t: Transfer = { height: cp.height, source, candidates, received: 0, bytesThisTick: 0, piecesThisTick: 0, idleTicks: 0 };
    this.transfer = t;
    this.events.push({ type: 'state-transfer', phase: 'started', height: cp.height });
    this.ctx.logger?.info({ height: String(cp.height), committedHeight: String(this.committedHeight), source, bytes: cp.size }, 'hotstuff: state transfer started');
    this.askPiece(t);
    this.armStateTimer();
  }

  private askPiece(t: Transfer): void {
    this.send.push({ to: t.source, msg: { type: 'request-state', height: t.height, offset: t.buffer ? t.received : 0, length: this.cfg.stateChunkBytes } });
  }

  private switchSource(t: Transfer): void {
    const at = t.candidates.indexOf(t.source);
    t.source = t.candidates[(at + 1) % t.candidates.length]!;
    t.accepted = undefined;
    t.buffer = undefined;
    t.received = 0;
    t.bytesThisTick = 0;
    t.piecesThisTick = 0;
    t.idleTicks = 0;
    this.askPiece(t);
  }

  /**
   * A peer asks for `length` bytes of our state at `height`. A first piece (offset 0), or a piece
   * of a state we no longer keep, is answered with the first piece of that state or of our latest
   * certified one, so a transfer that fell behind moves on. Per peer and state tick: one first
   * piece (it carries the commit proof), at most MAX_PIECES_PER_TICK pieces and as many times our
   * own `stateChunkBytes`, so a request of a few bytes buys a bounded amount of our bandwidth.
   */
  private onRequestState(from: NodeId, height: bigint, offset: number, length: number): void {
    if (from === this.self) return;
    let s = this.served.find((x) => x.height === height && x.votes);
    if (!s) {
      s = [...this.served].reverse().find((x) => x.votes);
      offset = 0;
    }
    if (!s?.votes) return;
    const total = s.snapshot.length;
    if (offset > total || (offset === total && total > 0)) return;
    if (offset === 0) {
      if (this.firstPiecesServed.has(from)) return;
      this.firstPiecesServed.add(from);
    }
    const used = this.piecesServed.get(from) ?? { pieces: 0, bytes: 0 };
    if (used.pieces >= MAX_PIECES_PER_TICK || used.bytes >= MAX_PIECES_PER_TICK * this.cfg.stateChunkBytes) return;
    const data = s.snapshot.subarray(offset, offset + Math.max(1, length));
    this.piecesServed.set(from, { pieces: used.pieces + 1, bytes: used.bytes + data.length });
    s.servedAtTick = this.stateTick;
    this.armStateTimer();
    const cert: StateCert | undefined = offset === 0 ? { block: s.block, state: s.state, votes: s.votes, proof: s.proof } : undefined;
    this.send.push({ to: from, msg: { type: 'state', height: s.height, offset, total, data, ...(cert ? { cert } : {}) } });
  }

  /**
   * A piece of the state we are fetching, taken only from the source asked and only in order. The
   * first piece must prove what follows: f+1 checkpoint signatures over (height, block, state,
   * size) and a commit proof of that block (HotStuff §4.3: a three-chain with its QCs; Jolteon's
   * two-chain under `two-chain`), checked before anything is buffered; the size is certified too,
   * so the buffer is allocated once at the honest size. The assembled bytes must hash to the
   * certified digest, or the single source of this attempt is blamed and the next one asked.
   */
  private onState(from: NodeId, m: Extract<HotStuffMessage, { type: 'state' }>): void {
    const t = this.transfer;
    if (!t || from !== t.source) return; // unasked, or late from a source we left
    if (m.cert) {
      // A first piece: of the state we asked for, or of a newer one the source holds instead.
      if (m.height <= this.committedHeight || m.height < this.appliedFloor || (t.accepted ? m.height <= t.height : m.height < t.height)) return;
      const checked = this.checkFirstPiece(m.height, m.total, m.cert);
      if ('kind' in checked) {
        this.misbehaviour(from, checked.kind, checked.detail);
        this.switchSource(t);
        return;
      }
      if (!this.fits(m.height, m.total)) {
        // Certified, so honest, but too large for us. This source moved on to it; another may
        // still hold the state we asked for.
        this.switchSource(t);
        return;
      }
      const info = checked;
      t.height = m.height;
      t.accepted = { block: info.block, hash: info.hash, state: m.cert.state, votes: m.cert.votes, proof: m.cert.proof };
      t.buffer = new Uint8Array(m.total);
      t.received = 0;
      this.certified({ height: m.height, block: m.cert.block, state: m.cert.state, size: m.total, votes: m.cert.votes });
    } else if (!t.buffer || m.height !== t.height || m.offset !== t.received || m.total !== t.buffer.length) {
      return; // a repeat, or a piece of an attempt we gave up
    }
    const acc = t.accepted!;
    const buf = t.buffer!;
    // The codec bounds offset + length by total (the buffer's size); checked again for a message
    // that did not come through it.
    if ((m.data.length === 0 && t.received < buf.length) || t.received + m.data.length > buf.length) {
      this.misbehaviour(from, 'malformed', 'state piece empty or past the end of the state');
      this.switchSource(t);
      return;
    }
    buf.set(m.data, t.received);
    t.received += m.data.length;
    t.bytesThisTick += m.data.length;
    t.piecesThisTick += 1;
    if (t.received < buf.length) {
      this.askPiece(t);
      return;
    }
    if (!bytesEqual(this.stateHasher.digest(buf), acc.state)) {
      this.misbehaviour(from, 'protocol-violation', `state at height ${t.height} does not match its certified digest`);
      this.switchSource(t);
      return;
    }
    this.transfer = undefined;
    if (t.height <= this.committedHeight) return; // block sync got there first
    this.install(t.height, acc, buf);
  }

  /**
   * The block the first piece of a state at `height` proves committed, or why the piece is refused
   * (its certificate over height, block, state and size; its commit proof).
   */
  private checkFirstPiece(height: bigint, total: number, cert: StateCert): { block: Block; hash: Uint8Array } | { kind: MisbehaviourKind; detail: string } {
    if (height % BigInt(this.cfg.snapshotInterval || 1) !== 0n) return { kind: 'protocol-violation', detail: `state at height ${height}, not a multiple of snapshotInterval` };
    try {
      this.verifyCheckpointCert(height, this.checkpointDigest(cert.block, cert.state, total), cert.votes);
      const info = verifyCommitProof(cert.proof, this.ctx.validators, this.ctx.verifier, {
        chainId: this.cfg.chainId,
        commitRule: this.cfg.commitRule,
        certificates: this.cfg.certificates,
        hasher: this.cfg.hasher,
      });
      if (info.height !== height || !bytesEqual(info.hash, cert.block)) return { kind: 'protocol-violation', detail: `state at height ${height}: its commit proof is for another block` };
      return { block: info.block, hash: info.hash };
    } catch (err) {
      if (err instanceof CertificateError) return { kind: 'invalid-signature', detail: `state at height ${height}: ${err.message}` };
      if (err instanceof DecodeError) return { kind: 'malformed', detail: `state at height ${height}: ${err.message}` };
      throw err;
    }
  }

  /**
   * Installs a transferred state at `height`: its block becomes the committed root (kept if the
   * tree holds it, else the tree restarts from it), and the state goes to the runtime alone in
   * the next Ready (see `ready`), followed by the log rewritten to start at that block. What was
   * committed here below it is covered by the state; blocks fetched or proposals queued above it
   * connect again, and the high QC's chain is fetched from peers as usual.
   */
  private install(height: bigint, acc: NonNullable<Transfer['accepted']>, snapshot: Uint8Array): void {
    this.commits = [];
    this.append = [];
    const existing = this.tree.get(toHex(acc.hash));
    if (existing) this.root = existing;
    else {
      this.tree.clear();
      this.children.clear();
      this.root = this.makeNode(acc.block, acc.hash);
      this.tree.set(this.root.key, this.root);
    }
    this.committedHeight = height;
    if (this.appliedFloor <= height) this.appliedFloor = 0n;
    this.rememberCommitted(this.root, acc.proof);
    this.rootRecord = { index: height, data: acc.proof };
    this.compactTarget = height;
    this.compactedTo = height;
    this.outRestore = { height, snapshot };
    this.hardDirty = true;
    this.backoff = 0;
    // Blocks asked for below the new root are moot (and nobody may still hold them). So are the
    // pending commands: which of them the state already executed is the application's to know,
    // and keeping them would have this replica time out and propose them again for ever. Clients
    // retry what is not done; the runtime answers retries of done ones from the restored state.
    this.wanted.clear();
    this.mempool.clear();
    this.forwardQueue = [];
    this.serve({ height, block: acc.hash, state: acc.state, snapshot, proof: acc.proof, servedAtTick: Number.NEGATIVE_INFINITY });
    this.certified({ height, block: acc.hash, state: acc.state, size: snapshot.length, votes: acc.votes });
    this.prune();
    this.lastNonEmptyHeight = 0n;
    for (const n of this.tree.values()) if (n.block.commands.length > 0 && n.block.height > this.lastNonEmptyHeight) this.lastNonEmptyHeight = n.block.height;
    this.events.push({ type: 'state-transfer', phase: 'completed', height });
    this.ctx.logger?.info({ height: String(height), bytes: snapshot.length }, 'hotstuff: state transfer completed');
    this.connectWaiting(this.root.key);
    if (!this.tree.has(toHex(this.highQC.block))) this.processQC(this.highQC);
  }

  // ---------------------------------------------------------------- mempool

  /**
   * Commands relayed by a peer (gossip towards the next leader). With `clientAuth`, one its client
   * did not sign is dropped and the relaying peer blamed: the transport authenticates the peer,
   * and an honest replica relays only commands that passed the same check.
   */
  private onRequests(from: NodeId, requests: readonly ClientRequest[]): void {
    for (let i = 0; i < requests.length; i++) {
      const why = this.addRequest(requests[i]!, false);
      // A client we do not know costs no signature check and proves nothing against the relay.
      if (why === undefined || this.unknownClient(requests[i]!)) continue;
      // An honest replica relays only commands it checked itself, so one refusal convicts the
      // sender: the rest of the message is dropped unread. Checking on would let one frame of
      // thousands of one-command groups cost as many signature verifications.
      this.misbehaviour(from, 'invalid-signature', `relayed command ${i} that its client did not sign (${why}); ${requests.length - i - 1} more dropped unread`);
      return;
    }
  }

  /**
   * Admits a command to the pending pool (and the forward queue). Returns why `clientAuth`
   * refused it, if it did; undefined otherwise (admitted, duplicate, or out of bounds).
   */
  private addRequest(r: ClientRequest, forward: boolean): string | undefined {
    // Bounds a command must meet to fit in a block (the codec enforces them on the wire).
    if (typeof r.client !== 'string' || r.client.length > LIMITS.maxIdLength || typeof r.seq !== 'bigint' || r.seq < 0n || r.seq > U64_MAX) return undefined;
    if (!(r.payload instanceof Uint8Array) || r.payload.length > this.cfg.maxPayloadBytes) return undefined;
    const k = requestKey(r);
    // Duplicates are dropped before the signature check (the costly step, and gossip brings each
    // command up to n times): the same (client, seq, payload) is already pending, so it passed
    // `check`, or committed, so f+1 honest voters checked it. Whatever signature the copy carries
    // adds nothing; a relayer of a badly signed duplicate merely goes unblamed.
    if (this.mempool.has(k) || this.committedKeys.has(k)) return undefined;
    if (this.mempool.size >= this.cfg.maxMempool) return undefined;
    const why = this.cfg.clientAuth?.check(r);
    if (why !== undefined) return why;
    // Every pending command must fit a block alone: every leader proposes the oldest first, and
    // a block that voters refuse as too large would stop the chain. Holds for any unsigned
    // command by the config's bounds; a signed one brings its group (see MAX_GROUP_WIRE_BYTES).
    if (requestWireBytes(r) > this.cfg.maxBlockBytes) return undefined;
    this.mempool.set(k, r);
    if (forward) this.forwardQueue.push(r);
    return undefined;
  }

  // ---------------------------------------------------------------- evidence

  private misbehaviour(peer: NodeId, kind: Extract<ProtocolEvent, { type: 'misbehaviour' }>['kind'], detail: string): void {
    this.events.push({ type: 'misbehaviour', peer, kind, detail });
  }

  private equivocation(peer: NodeId, first: SignedVote, second: SignedVote, what: string): void {
    // Third-party-checkable evidence needs one position (kind, height, view); two signatures for
    // one view at different heights are still equivocation, reported without the evidence object.
    if (first.height === second.height) this.events.push({ type: 'evidence', evidence: { voter: peer, first, second } });
    this.misbehaviour(peer, 'equivocation', `${what} for view ${second.round}`);
  }

  // ---------------------------------------------------------------- persistence and recovery

  /**
   * Hard state, version 2: the safety state (Alg.4's vheight as the last voted view, b_lock as the
   * locked QC, the high QC, our latest TC) and the uncommitted blocks it refers to (`blocks`, see
   * `durableBlocks`). Rewritten on every vote, QC, lock and commit. Version 1 had no `blocks`.
   */
  private encodeHardState(): Uint8Array {
    const blocks = this.durableBlocks();
    this.durableCount = blocks.length;
    return encode({
      v: 2,
      view: this.curView,
      voted: this.lastVotedView,
      proposed: this.lastProposedView,
      locked: qcToValue(this.lockedQC),
      high: qcToValue(this.highQC),
      tc: this.highTC ? tcToValue(this.highTC) : null,
      blocks: blocks.map((n) => (n.durable ??= encode(framedBlockValue(n.block)))),
    });
  }

  /**
   * The uncommitted blocks the hard state carries, parents first: the chain from the committed root
   * (exclusive) up to the high QC's block, and up to every block this replica voted for (or
   * recovered), where those are in the tree. Only committed blocks reach the log, so without these
   * a restart of every replica that holds them (a whole-cluster restart, a power loss) leaves every
   * replica with a high QC — and a lock — on a block nobody has: no leader can extend the high QC
   * and the cluster stalls for good. HotStuff (Yin et al., PODC'19, §4–5) assumes a replica keeps
   * the blocks it voted for: with these, a QC's 2f+1 voters include f+1 correct replicas that stored
   * the block (with its ancestors) before their vote left, and serve it by block sync after
   * restarting. Our own proposal is voted for by ourselves, so it is kept too; a QC formed from
   * votes whose block has not arrived yet is covered once it does (`attach` marks the hard state).
   *
   * At most MAX_DURABLE_BLOCKS: first the high QC's chain (what a leader must extend after a
   * restart), then the chains of voted blocks, newest first, each only if it fits whole — so the
   * set stays closed under parents and every stored block links to the root on recovery. If the
   * high QC's chain alone is longer (QCs formed for that many heights without a commit), its lowest
   * blocks are kept; after a restart of *every* replica in that state the blocks above the cut are
   * lost and the cluster stalls as without this (a partial restart fetches them from peers as
   * usual). Reported through the logger.
   */
  private durableBlocks(): TreeNode[] {
    const picked = new Map<string, TreeNode>();
    // The blocks of `tip`'s chain not picked yet, tip first (every tree block descends from the root).
    const path = (tip: TreeNode | undefined): TreeNode[] => {
      const out: TreeNode[] = [];
      for (let x = tip; x && x.block.height > this.committedHeight && !picked.has(x.key); x = this.tree.get(toHex(x.block.parent))) out.push(x);
      return out;
    };
    const high = path(this.tree.get(toHex(this.highQC.block)));
    const cut = high.length > MAX_DURABLE_BLOCKS;
    for (const n of high.slice(-MAX_DURABLE_BLOCKS)) picked.set(n.key, n);
    const voted = [...this.tree.values()].filter((n) => n.keep).sort((a, b) => (a.block.view > b.block.view ? -1 : a.block.view < b.block.view ? 1 : 0));
    let left = 0;
    for (const tip of voted) {
      const more = path(tip);
      if (picked.size + more.length > MAX_DURABLE_BLOCKS) left += 1;
      else for (const n of more) picked.set(n.key, n);
    }
    if ((cut || left > 0) && this.cutWarnedAt !== this.committedHeight) {
      this.cutWarnedAt = this.committedHeight;
      this.ctx.logger?.warn(
        { committedHeight: this.committedHeight, highChain: high.length, votedLeftOut: left, kept: picked.size },
        'hotstuff: uncommitted blocks beyond what the hard state keeps; a restart of every replica now could lose them',
      );
    }
    return [...picked.values()].sort((a, b) => (a.block.height < b.block.height ? -1 : a.block.height > b.block.height ? 1 : 0));
  }

  private recover(r: RecoveredState): void {
    let stored: readonly Value[] = [];
    if (r.hardState) {
      // Our own storage, already in memory: no size limit beyond what was written.
      const m = readMap(decode(r.hardState, { maxBytes: r.hardState.length }), 'hardState', ['v', 'view', 'voted', 'proposed', 'locked', 'high', 'tc', 'blocks']);
      const version = readUint(m.v, 'hardState.v');
      if (version !== 1 && version !== 2) throw new DecodeError(`hardState: unsupported version ${version} (this core reads 1 and 2)`);
      this.lastVotedView = readU64(m.voted, 'hardState.voted');
      this.lastProposedView = readU64(m.proposed, 'hardState.proposed');
      this.lockedQC = qcFromValue(m.locked, 'hardState.locked');
      this.highQC = qcFromValue(m.high, 'hardState.high');
      if (m.tc !== null && m.tc !== undefined) this.highTC = tcFromValue(m.tc as Value, 'hardState.tc');
      if (version >= 2) stored = readArray(m.blocks, 'hardState.blocks', MAX_STORED_BLOCKS);
      else if (m.blocks !== undefined) throw new DecodeError('hardState: a version 1 hard state has no blocks');
      // Resume no earlier than the last view we voted or timed out in: never vote twice in a view.
      this.curView = maxBig(readU64(m.view, 'hardState.view'), maxBig(this.lastVotedView, this.highQC.view + 1n));
      // How the view was entered is not persisted: with the QC of the view before at hand, take it
      // as QC-entered (what a replica that saw no TC first would do).
      this.enteredByQC = this.highQC.view + 1n === this.curView;
      this.timedOutView = 0n;
    }
    this.recoverLog(r);
    this.recoverBlocks(stored);
    this.recoverServedState(r);
    // The application ahead of the log: a transferred state was stored and the process died before
    // the log was rewritten above it. Transfers may only move the application forward from there.
    if (r.appliedHeight > this.committedHeight) this.appliedFloor = r.appliedHeight;
  }

  /**
   * The snapshot the runtime restored is served again, with the commit proof of its block from the
   * log, and signed again: votes are not persisted, and after a restart of every replica this is
   * how a certificate for the latest state forms before the next snapshot height.
   */
  private recoverServedState(r: RecoveredState): void {
    const snap = r.snapshot;
    if (!snap || snap.height === 0n || this.cfg.snapshotInterval === 0 || snap.height % BigInt(this.cfg.snapshotInterval) !== 0n) return;
    const rec = r.log.find((x) => x.index === snap.height);
    if (!rec) return;
    const { hash } = proofBlock(rec.data, this.cfg.hasher);
    this.serveAndSign({ height: snap.height, block: hash, state: this.stateHasher.digest(snap.data), snapshot: snap.data, proof: rec.data, servedAtTick: Number.NEGATIVE_INFINITY });
  }

  private recoverLog(r: RecoveredState): void {
    const log = r.log;
    if (log.length === 0) return;
    this.compactedTo = log[0]!.index;
    this.compactTarget = this.compactedTo;
    const start = Math.max(0, log.length - this.cfg.syncWindow);
    let last: TreeNode | undefined;
    for (let i = 0; i < log.length; i++) {
      const rec = log[i]!;
      const deliver = rec.index > r.appliedHeight; // persisted but not yet applied: hand it out again
      const inWindow = i >= start;
      if (!deliver && !inWindow) continue;
      const { block, hash, cmdDigest } = proofBlock(rec.data, this.cfg.hasher); // our own record: trusted, not re-verified
      // Re-delivered heights keep their snapshot marks: a crash between storing a block and its
      // snapshot must not skip that snapshot (the log bound rests on it).
      const mark = deliver ? this.snapshotMark(rec.index) : {};
      if (deliver) this.commits.push({ height: rec.index, requests: block.commands, proof: rec.data, ...mark });
      if (mark.reportState) this.keepSnapshotProof(rec.index, hash, rec.data);
      if (inWindow) {
        last = this.makeNode(block, hash, cmdDigest);
        this.rememberCommitted(last, rec.data);
      }
    }
    if (last) {
      this.tree.delete(this.root.key);
      this.root = last;
      this.tree.set(last.key, last);
      this.committedHeight = last.block.height;
      this.lastNonEmptyHeight = 0n;
    }
  }

  /**
   * Puts the hard state's uncommitted blocks back above the committed root, parents first. Our own
   * storage: not re-verified (no signatures checked), but each block must extend the root or a
   * block put back before it, exactly as its QC says — a stored hard state always extends the log's
   * last block (both are written in one persist, see `commit`), so anything else is corruption and
   * fails here instead of leaving a broken tree. The blocks are not committed nor delivered: the
   * commit rule commits them once a leader extends the high QC. Their commands go back to the
   * pending pool, as before the crash (commands stay pending until committed; `clientAuth` refuses
   * them, unsigned as stored, so with it an abandoned branch's commands wait for their clients'
   * retries). Kept (`keep`) so the next hard state carries them again.
   */
  private recoverBlocks(stored: readonly Value[]): void {
    for (let i = 0; i < stored.length; i++) {
      const path = `hardState.blocks[${i}]`;
      const bytes = readBytes(stored[i], path, { max: LIMITS.maxFrameBytes });
      const { block: b, hash } = proofTarget(decode(bytes, { maxBytes: LIMITS.maxFrameBytes, maxDepth: 8 }), this.cfg.hasher, path);
      const key = toHex(hash);
      const parent = this.tree.get(toHex(b.parent));
      const why = !parent
        ? `its parent ${toHex(b.parent).slice(0, 16)} is neither the committed block at height ${this.committedHeight} nor a block stored before it`
        : this.tree.has(key)
          ? 'it is stored twice'
          : b.height !== parent.block.height + 1n || b.view <= parent.block.view
            ? `height ${b.height} / view ${b.view} do not follow its parent's (${parent.block.height} / ${parent.block.view})`
            : !bytesEqual(b.justify.block, parent.hash) || b.justify.height !== parent.block.height || b.justify.view !== parent.block.view
              ? 'its QC does not certify its parent'
              : undefined;
      if (why !== undefined) {
        throw new DecodeError(`${path}: block ${key.slice(0, 16)} at height ${b.height} does not extend the recovered chain: ${why} (hard state corrupt, or not written with this log)`);
      }
      const node = this.attach(this.makeNode(b, hash));
      node.keep = true;
      node.durable = bytes;
      for (const c of b.commands) this.addRequest(c, false);
    }
    this.durableCount = stored.length;
  }
}

/**
 * Why proposal `b` (with `tc`) is malformed whatever the receiver's state, or undefined. The core
 * refuses such a proposal before checking any signature, and the preverifier lists none for it.
 */
export function proposalFault(b: Block, tc: TimeoutCert | undefined, cfg: ResolvedConfig): string | undefined {
  if (b.commands.length > cfg.maxBlockCommands) return `block of ${b.commands.length} commands exceeds ${cfg.maxBlockCommands}`;
  const bytes = batchWireBytes(b.commands);
  if (bytes > cfg.maxBlockBytes) return `block of ${bytes} command bytes exceeds ${cfg.maxBlockBytes}`;
  // Structure: b.parent = b.justify.node (chained HotStuff §5), heights consecutive, views increasing.
  if (!bytesEqual(b.parent, b.justify.block) || b.height !== b.justify.height + 1n || b.view <= b.justify.view) {
    return 'block does not extend the block its QC certifies';
  }
  // A proposal for view v is justified by a QC of view v-1 or a TC of view v-1 (pacemaker).
  if (tc && tc.view + 1n !== b.view) return `TC of view ${tc.view} cannot justify view ${b.view}`;
  if (!tc && b.justify.view + 1n !== b.view) return `proposal for view ${b.view} lacks a QC or TC for view ${b.view - 1n}`;
  return undefined;
}

/** Whether `cp` certifies the served state `s` (same height, block, digest and size). */
function certifies(cp: CertifiedCheckpoint, s: ServedState): boolean {
  return cp.height === s.height && cp.size === s.snapshot.length && bytesEqual(cp.block, s.block) && bytesEqual(cp.state, s.state);
}

/** Groups `authEncodable` accepted (a group's 128 commands share one object: one scan). */
const encodableGroups = new WeakSet<SignedRequestGroup>();

/**
 * Whether the codec can carry `r`'s signature (a group of 1..MAX_GROUP_SIZE 32-byte digests for
 * `r.client`, a bounded signature, `r`'s place inside it). Decoded commands always can; the
 * runtime's may not (it need not check them), and one the codec refuses in a block would make
 * every replica refuse the block of every leader that takes it from the pool. Unsigned: true.
 */
function authEncodable(r: ClientRequest): boolean {
  const a = r.auth;
  if (a === undefined) return true;
  const g = a.group;
  if (g === null || typeof g !== 'object' || g.client !== r.client) return false;
  if (!encodableGroups.has(g)) {
    const ok =
      g.signature instanceof Uint8Array &&
      g.signature.length <= LIMITS.maxSignatureBytes &&
      Array.isArray(g.digests) &&
      g.digests.length >= 1 &&
      g.digests.length <= MAX_GROUP_SIZE &&
      g.digests.every((d) => d instanceof Uint8Array && d.length === 32);
    if (!ok) return false;
    encodableGroups.add(g);
  }
  return Number.isInteger(a.index) && a.index >= 0 && a.index < g.digests.length;
}

/** The block of a commit proof from our own log or window (trusted: not re-verified), with its hash and commands digest. */
function proofBlock(bytes: Uint8Array, hasher: Hasher): ReturnType<typeof proofTarget> {
  const m = readMap(decode(bytes, { maxBytes: LIMITS.maxFrameBytes, maxDepth: 8 }), 'proof');
  return proofTarget(m.block, hasher);
}
