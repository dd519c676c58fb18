/**
 * The sans-I/O protocol core (DESIGN §3). A core is a synchronous, deterministic state machine:
 * the runtime (or the simulator) feeds it `Input`s through `step` and drains its outputs with
 * `ready`. Cores never read clocks, start timers, draw randomness or touch the network or disk;
 * everything they need arrives as an input or through `CoreContext`.
 */
import type { Rng } from './rng.js';
import type { Logger } from './logger.js';
import type { NodeId, ValidatorSet } from './identity.js';
import type { Hasher, Signer, Verifier, VerifyItem } from './crypto.js';
import type { ClientRequest, CommittedBatch } from './application.js';
import type { EquivocationEvidence } from './evidence.js';
import type { LogRecord } from './storage.js';

/** Names a timer the core asked for. Setting an existing id re-arms it. */
export type TimerId = string;

export type Input<M, R = ClientRequest> =
  /** A protocol message; `from` was authenticated by the transport (never taken from the payload). */
  | { readonly type: 'message'; readonly from: NodeId; readonly msg: M }
  /** A timer set through `Ready.timers` fired (and was not cancelled or re-armed since). */
  | { readonly type: 'timeout'; readonly timer: TimerId }
  /** A client command reached this replica. */
  | { readonly type: 'request'; readonly request: R }
  /** Every `Ready.persist` with `id <= upTo` is durable. */
  | { readonly type: 'persisted'; readonly upTo: bigint }
  /**
   * The runtime is stopping cleanly: every Ready before this one was handled, everything they
   * persisted is durable, and nothing this core outputs from now on is sent. A core may answer
   * with one Ready whose persist (its only content that counts) records the clean stop, which
   * the runtime makes durable before it closes the storage; it then takes no more inputs. PBFT
   * uses it to restart without its recovery fence. Cores that need nothing ignore it.
   */
  | { readonly type: 'stop' }
  /**
   * The application has applied every committed batch up to `height` (only reported for batches
   * marked `reportState`). `stateDigest` commits to the application state; `snapshot` is the
   * state itself, which the core may keep to serve state transfer. `snapshotHash`, when given, is
   * SHA-256 of exactly `snapshot`'s bytes: a caller that hashed the snapshot already (the runtime
   * does, in slices, to store it) saves the core a second, synchronous pass over a state that may
   * be hundreds of megabytes. A wrong one is never a safety problem (peers check what they fetch
   * against the certified hashes), but costs this replica dearly: its checkpoints differ from
   * the others', so it fetches the state it already has at every checkpoint, and cannot serve it.
   */
  | {
      readonly type: 'applied';
      readonly height: bigint;
      readonly stateDigest: Uint8Array;
      readonly snapshot?: Uint8Array;
      readonly snapshotHash?: Uint8Array;
    };

/** What a core asks storage to make durable. Records and state are opaque bytes the core encoded. */
export interface PersistRequest {
  /** Strictly increasing per core; acknowledged by `{ type: 'persisted', upTo }`. */
  readonly id: bigint;
  /** Replaces the core's hard state (view/term, vote, lock …) atomically with the rest. */
  readonly hardState?: Uint8Array;
  /** Drop log records with `index >= truncateFrom` before appending (e.g. Raft §5.3 conflicts). */
  readonly truncateFrom?: bigint;
  readonly append: readonly LogRecord[];
  /**
   * Records with `index < compactTo` are no longer needed: covered by a stable checkpoint (PBFT)
   * or by a snapshot this replica stored itself (HotStuff, after `applied`).
   */
  readonly compactTo?: bigint;
  /**
   * Nothing in this Ready (sends, commits, restore) depends on these writes, and losing them in a
   * crash is safe. The runtime may then stage them and make them durable later, no later than the
   * sync of the next persist that is not deferrable, and before it stores a snapshot of a height
   * reported after them (`reportState`). A core sets this only when every write of the request
   * qualifies: what peers already hold durably and would send again (votes received from them,
   * certificates built of those votes), or its own votes when the core itself ensures that, after
   * a restart, it never contradicts a vote it may have sent and lost (PBFT's recovery fence).
   * Hard state, truncation and compaction never qualify.
   */
  readonly deferrable?: boolean;
}

export interface Outbound<M> {
  readonly to: NodeId | 'all';
  readonly msg: M;
}

export type TimerOp =
  | { readonly op: 'set'; readonly id: TimerId; readonly ms: number }
  | { readonly op: 'cancel'; readonly id: TimerId };

export type MisbehaviourKind =
  | 'invalid-signature'
  | 'malformed'
  | 'protocol-violation'
  | 'stale'
  | 'future'
  | 'equivocation'
  | 'unknown-sender';

export type ProtocolEvent =
  | { readonly type: 'leader'; readonly view: bigint; readonly leader: NodeId }
  | { readonly type: 'view-change'; readonly from: bigint; readonly to: bigint; readonly reason: string }
  | { readonly type: 'misbehaviour'; readonly peer: NodeId; readonly kind: MisbehaviourKind; readonly detail: string }
  | { readonly type: 'evidence'; readonly evidence: EquivocationEvidence }
  | { readonly type: 'peer-status'; readonly peer: NodeId; readonly status: 'ok' | 'suspected' | 'isolated' }
  | { readonly type: 'checkpoint'; readonly height: bigint; readonly stateDigest: Uint8Array }
  | { readonly type: 'state-transfer'; readonly phase: 'started' | 'completed'; readonly height: bigint };

/**
 * Everything a core produced since the previous `ready()` call.
 *
 * ORDERING RULE — the runtime must handle the fields in this order:
 *  1. `persist` is made durable (fsync) BEFORE any message in `send` leaves this process,
 *     because those messages may promise what was persisted (a vote, a prepare, a log append).
 *  2. `send` is handed to the transport.
 *  3. `restore` (if present) is installed into the application and stored durably as its latest
 *     snapshot (a restart resumes from it), then every batch in `commit` is applied in order.
 *     Heights are consecutive: each is the previous applied height + 1. Applying may lag behind:
 *     the runtime may handle later Readies (persist, send, timers) before a batch is applied, for
 *     instance while a checkpoint's snapshot is taken, but applies batches in order, and installs
 *     a `restore` only after everything committed before it. Cores learn of applied state only
 *     through `applied` inputs.
 *  4. `timers` are armed or cancelled, in order.
 *  `events` are observations (metrics, logs, evidence) and may be handled at any point.
 * After (1), the runtime steps `{ type: 'persisted', upTo: persist.id }` into the core.
 *
 * A Ready whose only duty is `persist` (nothing to send, commit or restore) may be overlapped: the
 * runtime stages its writes, starts the sync and goes on to the next Ready without waiting, since
 * a sync covers every write staged before it, so the next Ready's own sync (awaited before its
 * sends) makes both durable. A `persist` marked `deferrable` goes further: the Ready is handled as
 * if it had no persist, and its writes become durable with a later sync (see
 * `PersistRequest.deferrable`). `persisted` inputs only ever increase: one with `upTo` N also
 * acknowledges every id below N, so an overlapped or deferred id may never be acknowledged by itself.
 * Cores must not assume their inputs stop while a persist is in flight.
 */
export interface Ready<M> {
  readonly persist?: PersistRequest;
  readonly send: readonly Outbound<M>[];
  readonly restore?: { readonly height: bigint; readonly snapshot: Uint8Array };
  readonly commit: readonly CommittedBatch[];
  readonly timers: readonly TimerOp[];
  readonly events: readonly ProtocolEvent[];
}

export interface CoreStatus {
  readonly protocol: string;
  readonly node: NodeId;
  /** View, term or round, whatever the protocol calls its epoch of leadership. */
  readonly view: bigint;
  readonly leader?: NodeId;
  /** Highest height handed out in `Ready.commit`. */
  readonly committedHeight: bigint;
  readonly role?: string;
  readonly detail?: Readonly<Record<string, string | number | bigint | boolean>>;
}

export interface ProtocolCore<M, R = ClientRequest> {
  /** Feeds one input. Never throws on bad peer input: that becomes a `misbehaviour` event. */
  step(input: Input<M, R>): void;
  /** True when `ready()` would return something. */
  hasReady(): boolean;
  /** Drains and returns the outputs accumulated since the last call (see the ordering rule on `Ready`). */
  ready(): Ready<M>;
  status(): CoreStatus;
}

/** What the runtime injects into a core. */
export interface CoreContext {
  readonly self: NodeId;
  readonly validators: ValidatorSet;
  readonly signer: Signer;
  readonly verifier: Verifier;
  readonly rng: Rng;
  /**
   * SHA-256 for digests of batches and blocks. The runtime passes the native one (node:crypto is
   * 6x faster); cores fall back to @noble/hashes' pure-JS SHA-256, which gives the same digests.
   */
  readonly hasher?: Hasher;
  readonly logger?: Logger;
}

/** What a restarted replica read back from storage, handed to `create` so the core resumes. */
export interface RecoveredState {
  readonly hardState?: Uint8Array;
  readonly log: readonly LogRecord[];
  readonly snapshot?: { readonly height: bigint; readonly data: Uint8Array };
  /** Height the application state (after `snapshot` and replay) has reached. */
  readonly appliedHeight: bigint;
}

/** Turns messages into the bytes that cross the network and back. `decode` throws `DecodeError`. */
export interface MessageCodec<M> {
  encode(msg: M): Uint8Array;
  decode(bytes: Uint8Array): M;
}

/** A protocol as the runtime, the simulator and the apps see it: one object per package. */
export interface ProtocolDefinition<M, C = unknown> {
  readonly name: string;
  readonly codec: MessageCodec<M>;
  /** Validates `config` and builds a core; throws `ConfigError` with the offending path. */
  create(ctx: CoreContext, config: C, recovered?: RecoveredState): ProtocolCore<M>;
  /**
   * Optional: lists the signature checks the core will make for a message before it is stepped,
   * so a runtime can run them on its worker pool (DESIGN §10) and the core's own `verify` of the
   * same (key, message, signature) bytes becomes a verified-cache hit. Built once per replica from
   * the context and config its core gets. The hook never verifies anything itself and never
   * throws; listing fewer checks than the core makes costs only speed, and wrong bytes only a
   * wasted verification: the core still checks every signature it relies on. At most
   * `MAX_PREVERIFY_ITEMS` per message, and the work to list them bounded likewise.
   */
  preverifier?(ctx: CoreContext, config: C): Preverifier<M>;
}

/**
 * Most signatures a preverifier lists for one message: the first ones, protocol signatures before
 * client groups, and its walk ends there. The core stops at the first bad signature or drops a
 * message it does not need unread, while a pool verifies every listed one, so a hostile message
 * carrying thousands of signatures could otherwise buy that many verifications. Honest messages
 * can exceed it (a PBFT VIEW-CHANGE with many prepared batches, a STATE at large n, a block of
 * thousands of one-command groups): the core verifies the rest inline, as without a pool.
 */
export const MAX_PREVERIFY_ITEMS = 256;

/**
 * The signature checks that stepping `msg` from `from` will make (see `ProtocolDefinition.preverifier`).
 * Declared through a method so its parameter is bivariant like `create`'s: a definition with a
 * preverifier stays assignable to `ProtocolDefinition<unknown>` (the simulator, the apps).
 */
export type Preverifier<M> = { check(msg: M, from: NodeId): readonly VerifyItem[] }['check'];
