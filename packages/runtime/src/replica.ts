/**
 * `Replica` drives any `ProtocolDefinition` with real I/O: a `Transport` for peers, a `Storage`
 * for durability, a `StateMachine` for the application, real timers, client replies and metrics.
 *
 * The Ready ordering rule (interface core.ts) is enforced here, one Ready at a time:
 *   1. persist → storage (log, hard state) and `await storage.sync()`; nothing of this Ready is
 *      sent before the sync resolved (a `deferrable` persist is staged and synced later, by the
 *      next sync or after `deferredSyncMs`),
 *   2. send → encoded once per message, handed to the transport,
 *   3. restore, then every committed batch applied in height order (client replies go out after
 *      each batch; `reportState` batches get their snapshot stored and an `applied` input) — by a
 *      background loop, so later Readies do not wait for it (`applyInBackground`),
 *   4. timers armed / cancelled,
 * and `persisted` is stepped into the core after (1). Inputs arriving while a Ready is in flight
 * are stepped at once (cores are synchronous); their outputs wait for the next Ready.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { checkLruCapacity, createVerifiedCache, sha256Native } from '@phalanx/crypto';
import type { VerifiedCache } from '@phalanx/crypto';
import { ConfigError, DecodeError, MAX_PREVERIFY_ITEMS, PhalanxError, silentLogger } from '@phalanx/interface';
import { ReplicaError } from './errors.js';
import type {
  BatchVerifier,
  ClientRequest,
  CommittedBatch,
  CoreContext,
  Input,
  LogRecord,
  Logger,
  NodeId,
  PersistRequest,
  ProtocolCore,
  ProtocolDefinition,
  ProtocolEvent,
  Preverifier,
  Ready,
  RecoveredState,
  RequestAuthenticator,
  Rng,
  Signer,
  StateMachine,
  Storage,
  Transport,
  ValidatorSet,
  Verifier,
  VerifyItem,
} from '@phalanx/interface';
import { ReplicatedState } from './replicated-state.js';
import { MAX_FRAME_ITEMS, decodeClientFrame, encodeClientFrame, framesOf } from './wire.js';
import type { ClientFrame, RejectCode, ReplyFrame, RequestFrame, WireResult } from './wire.js';
import { MAX_GROUP_SIZE, groupOf } from '@phalanx/client-auth';

/** The replica side of the client protocol (`MemoryTransport.clients`, `Libp2pTransport.clients`). */
export interface ClientPlane {
  send(client: NodeId, frame: Uint8Array): void;
  onFrame(handler: (client: NodeId, frame: Uint8Array) => void): void;
}

/** Metrics and log hooks. Bind them to prom-client, pino, OpenTelemetry … the runtime depends on none. */
export interface ReplicaHooks {
  onPersist?(info: { readonly id: bigint; readonly records: number; readonly bytes: number; readonly syncMs: number }): void;
  /** A batch was applied; `proof` is the core's commit proof of that height, when it gives one. */
  onCommit?(info: {
    readonly height: bigint;
    readonly requests: number;
    readonly duplicates: number;
    readonly applyMs: number;
    readonly proof?: Uint8Array;
  }): void;
  onSend?(info: { readonly to: NodeId | 'all'; readonly bytes: number }): void;
  onMessage?(info: { readonly from: NodeId; readonly bytes: number }): void;
  onMalformed?(info: { readonly peer: NodeId; readonly error: string }): void;
  onTimer?(info: { readonly timer: string }): void;
  /** A timer fired `lateMs` past its time (the event loop was blocked) and was re-armed once (see `timersExtended`). */
  onTimerLate?(info: { readonly timer: string; readonly lateMs: number }): void;
  onEvent?(event: ProtocolEvent): void;
  onClientRequest?(info: { readonly client: NodeId; readonly seq: bigint; readonly duplicate: boolean }): void;
  /** A batch came back from the worker pool: signatures sent, how many were valid, its round trip. */
  onPreverify?(info: { readonly items: number; readonly valid: number; readonly ms: number }): void;
  /** The replica stopped itself: storage failed or the core broke the Ready contract. */
  onFatal?(error: Error): void;
}

export interface ReplicaOptions<M, C> {
  readonly protocol: ProtocolDefinition<M, C>;
  readonly config: C;
  readonly self: NodeId;
  readonly validators: ValidatorSet;
  readonly signer: Signer;
  /** Verifier used on a cache miss. Default: @phalanx/crypto's verifier. */
  readonly verifier?: Verifier;
  /**
   * Pre-verifies signatures off the event loop (a worker pool, `createBatchVerifier` from
   * @phalanx/crypto) before a message or a client frame reaches the core.
   */
  readonly batchVerifier?: BatchVerifier;
  /**
   * The signatures inside a message, for pre-verification. Defaults to the protocol definition's
   * `preverifier(ctx, config)` (or its older `preverify(msg, from)`), see README: Signature pre-verification.
   */
  readonly preverify?: Preverifier<M>;
  /**
   * Fewest signatures not yet in the verified cache worth a worker round trip: a message listing
   * fewer is stepped at once and the core verifies them inline (a round trip costs about two
   * Ed25519 verifications), unless messages before it are still waiting for the pool. Default 2;
   * 0 counts as 1.
   */
  readonly minPoolItems?: number;
  /**
   * Longest wait for the pool (ms) before the queued messages are stepped anyway and the core
   * verifies inline. Default 5000.
   */
  readonly poolTimeoutMs?: number;
  /**
   * The verified-digest cache the core's verifier reads (built from `verifier` and
   * `verifiedCacheSize` when absent). Pass the one `clientAuth` verifies with, so that client
   * signatures verified on the pool are hits there too.
   */
  readonly verifiedCache?: VerifiedCache;
  readonly verifiedCacheSize?: number;
  readonly storage: Storage;
  readonly transport: Transport;
  readonly clients?: ClientPlane;
  /**
   * Authenticates clients (`@phalanx/client-auth`): requests must carry their client's signature,
   * checked here before they reach the core; unsigned or badly signed ones are refused with
   * `unauthenticated`. Give the core the same authenticator so that it checks the requests inside
   * proposals too. Unset: any client the client plane admits is trusted to be who it says.
   */
  readonly clientAuth?: RequestAuthenticator;
  readonly stateMachine: StateMachine;
  readonly rng?: Rng;
  readonly logger?: Logger;
  readonly hooks?: ReplicaHooks;
  /** Largest protocol message decoded (bytes). Default 16 MiB. */
  readonly maxMessageBytes?: number;
  /** Largest client payload accepted. Default 1 MiB. */
  readonly maxRequestBytes?: number;
  /** Results kept per client to answer retries. Default 256. */
  readonly resultsPerClient?: number;
  /** Stop closes the transport and the storage (default true). */
  readonly closeOnStop?: boolean;
  /**
   * Longest a `deferrable` persist waits for a sync (ms) when no other sync covers it first.
   * Default 10.
   */
  readonly deferredSyncMs?: number;
  /**
   * Committed batches that may wait to be applied (behind a checkpoint being taken) before the
   * replica stops handling further Readies until applying catches up. Default 256: more than
   * PBFT's watermark window at the default checkpoint interval; HotStuff has no such bound.
   */
  readonly maxApplyBacklog?: number;
}

export interface ReplicaMetrics {
  readonly messagesIn: number;
  readonly messagesOut: number;
  readonly malformed: Readonly<Record<string, number>>;
  readonly persists: number;
  readonly recordsPersisted: number;
  readonly committedHeight: bigint;
  readonly requestsApplied: number;
  readonly duplicates: number;
  readonly repliesSent: number;
  readonly timersFired: number;
  /** Timers that fired late after a blocked event loop and were re-armed once (see `armTimer`). */
  readonly timersExtended: number;
  readonly preverified: number;
}

/** A CSPRNG-backed `Rng` for production (the simulator passes a seeded one instead). */
export const cryptoRng: Rng = {
  nextU32: () => randomBytes(4).readUInt32BE(0),
  nextFloat: () => randomBytes(4).readUInt32BE(0) / 2 ** 32,
  nextInt: (n) => (n <= 1 ? 0 : n > 2 ** 32 ? Math.floor((randomBytes(4).readUInt32BE(0) / 2 ** 32) * n) : randomInt(0, n)),
  bytes: (length) => new Uint8Array(randomBytes(length)),
};

/** Options that bound a count or a size: a positive safe integer each. */
const COUNT_OPTIONS = ['maxApplyBacklog', 'maxMessageBytes', 'maxRequestBytes', 'resultsPerClient'] as const;
/** Options handed to `setTimeout` as delays (ms). */
const DELAY_OPTIONS = ['poolTimeoutMs', 'deferredSyncMs'] as const;
/** The longest delay `setTimeout` keeps: above it Node fires after 1 ms (with only a warning). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Refuses the numeric options no replica should run with. Unchecked they fail silently where they
 * are used: NaN turns a bound off (`length > NaN` is never true: an unbounded apply backlog, reply
 * cache or message size) or refuses every client frame as malformed (the decoder rejects a NaN or
 * infinite limit); 0 results per client answers every retry with an empty result; a delay of NaN
 * or past MAX_TIMER_MS fires after 1 ms. Values that run today keep their meaning: `minPoolItems`
 * 0 still counts as 1, and a delay of 0 or a fraction of a millisecond is a delay.
 */
function validateOptions(
  o: Pick<ReplicaOptions<unknown, unknown>, (typeof COUNT_OPTIONS)[number] | (typeof DELAY_OPTIONS)[number] | 'minPoolItems' | 'verifiedCache' | 'verifiedCacheSize'>,
): void {
  for (const key of COUNT_OPTIONS) {
    const v = o[key];
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 1)) throw new ConfigError(key, `must be a positive safe integer, got ${String(v)}`);
  }
  const pool = o.minPoolItems;
  if (pool !== undefined && (!Number.isSafeInteger(pool) || pool < 0)) throw new ConfigError('minPoolItems', `must be a non-negative safe integer, got ${String(pool)}`);
  for (const key of DELAY_OPTIONS) {
    const v = o[key];
    if (v !== undefined && (typeof v !== 'number' || !(v >= 0 && v <= MAX_TIMER_MS))) {
      throw new ConfigError(key, `must be a number of milliseconds in 0..${MAX_TIMER_MS}, got ${String(v)}`);
    }
  }
  // Checked here, not by the cache it sizes, so the error names this option; unused (and unchecked,
  // as before) when a cache is passed in.
  if (o.verifiedCache === undefined && o.verifiedCacheSize !== undefined) checkLruCapacity(o.verifiedCacheSize, 'verifiedCacheSize');
}

/**
 * How late a timer may fire before the replica counts itself as having been blocked (see
 * `armTimer`): a quarter of its length, and at least 50 ms, above the few ms of jitter a busy
 * event loop adds to every timer.
 */
function lateSlackMs(ms: number): number {
  return Math.max(50, ms / 4);
}

/** Size of the pieces a snapshot is handed to storage in (see `storeSnapshot`). */
const SNAPSHOT_PIECE_BYTES = 1 << 20;
/** How long a slice of checkpoint work may hold the event loop before it lets other work run. */
const SLICE_MS = 10;

/**
 * A clock for work done in slices: `pause()` lets other work run (`setImmediate`, after pending
 * I/O) once the current slice has held the event loop SLICE_MS, and returns at once otherwise.
 */
function slices(): { pause(): Promise<void> | undefined } {
  let since = performance.now();
  return {
    pause() {
      if (performance.now() - since < SLICE_MS) return undefined;
      return new Promise<void>((r) => setImmediate(r)).then(() => void (since = performance.now()));
    },
  };
}

/** Stages a core's persist request in `storage`, in the order the request's fields imply. */
function stagePersist(storage: Storage, p: PersistRequest): void {
  if (p.truncateFrom !== undefined) storage.truncateFrom(p.truncateFrom);
  if (p.append.length > 0) storage.append(p.append);
  if (p.hardState) storage.putHardState(HARD_STATE, p.hardState);
  if (p.compactTo !== undefined) storage.compactTo(p.compactTo);
}

/** Runs `steps` to the end, SLICE_MS at a time, letting other work run between slices. */
async function sliced<T>(steps: Iterator<void, T>): Promise<T> {
  const clock = slices();
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    const p = clock.pause();
    if (p) await p;
  }
}

const HARD_STATE = 'core';

/** Reads what a previous incarnation made durable (log, hard state, latest snapshot). */
export async function readRecoveredState(storage: Storage): Promise<RecoveredState & { snapshotDigest?: Uint8Array }> {
  const hardState = await storage.getHardState(HARD_STATE);
  const bounds = storage.logBounds();
  const log: LogRecord[] = bounds && bounds.last >= bounds.first ? await storage.readLog(bounds.first, bounds.last + 1n) : [];
  const meta = await storage.snapshots.latest();
  let snapshot: { height: bigint; data: Uint8Array } | undefined;
  if (meta) {
    const chunks: Uint8Array[] = [];
    for await (const c of storage.snapshots.read()) chunks.push(c);
    const total = chunks.reduce((n, c) => n + c.length, 0);
    const data = new Uint8Array(total);
    let off = 0;
    for (const c of chunks) {
      data.set(c, off);
      off += c.length;
    }
    snapshot = { height: meta.height, data };
  }
  return {
    ...(hardState ? { hardState } : {}),
    log,
    ...(snapshot ? { snapshot, snapshotDigest: meta!.digest } : {}),
    appliedHeight: snapshot?.height ?? 0n,
  };
}

/** Refusals of one reason sent one frame each, as older clients read them (see `reject`). */
const SINGLE_REJECTS = 16;

/**
 * Results to send, grouped into one reply frame per (client, height, proof), at most
 * `MAX_FRAME_ITEMS` results and about `MAX_FRAME_PAYLOAD_BYTES` each (see `framesOf`).
 */
class ReplyGroups {
  private readonly groups = new Map<string, { client: NodeId; height: bigint; proof: Uint8Array | undefined; results: WireResult[] }>();

  add(client: NodeId, height: bigint, proof: Uint8Array | undefined, result: WireResult): void {
    const key = `${client}\u0000${height}\u0000${proof ? 'p' : ''}`;
    const g = this.groups.get(key);
    if (g) g.results.push(result);
    else this.groups.set(key, { client, height, proof, results: [result] });
  }

  send(to: (client: NodeId, frame: ReplyFrame) => void): void {
    for (const { client, height, proof, results } of this.groups.values()) {
      for (const part of framesOf(results, (r) => r.result.length)) {
        to(client, { type: 'reply', height, results: part, ...(proof ? { proof } : {}) });
      }
    }
  }
}

/** How long a peer or client whose signature the pool refused (or a pool that timed out) is left out. */
const POOL_DISTRUST_MS = 30_000;
/** Most signatures in one pool batch (~80 ms of one worker here); the rest of a burst goes inline. */
const MAX_POOL_BATCH = 4 * MAX_PREVERIFY_ITEMS;

/**
 * After a state digest for `digestState`, the applying loop takes the next one only once this many
 * times its duration has passed (a restore aside): digests take at most a sixth of applying's time
 * however often they are asked for. The price: after a commit, the last digest answers, with its
 * own height, for up to this many times its duration (~12 s at a million KV keys).
 */
const DIGEST_REST = 5;

/** A digest of the replicated state and the applied height it is of (`Replica.digestState`). */
export interface StateDigest {
  readonly height: bigint;
  readonly digest: Uint8Array;
}

/** Raised (and logged) when the worker pool does not answer within `poolTimeoutMs`. */
export class PoolTimeoutError extends PhalanxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('POOL_TIMEOUT', message, options);
  }
}

function sourceOf(p: { readonly kind: 'message'; readonly from: NodeId } | { readonly kind: 'client'; readonly client: NodeId }): string {
  return p.kind === 'message' ? `peer:${p.from}` : `client:${p.client}`;
}

/** Input waiting for its signatures to come back from the pool: a peer's message or a client's frame. */
type PendingVerify<M> =
  | { readonly kind: 'message'; readonly from: NodeId; readonly msg: M; readonly items: readonly VerifyItem[] }
  | { readonly kind: 'client'; readonly client: NodeId; readonly frame: RequestFrame; readonly runs: readonly ClientRequest[][]; readonly items: readonly VerifyItem[] };

export class Replica<M, C = unknown> {
  readonly self: NodeId;
  private readonly o: ReplicaOptions<M, C>;
  private readonly log: Logger;
  private readonly hooks: ReplicaHooks;
  private readonly state: ReplicatedState;
  private readonly verified: VerifiedCache;
  private preverifyFn: Preverifier<M> | undefined;
  private core: ProtocolCore<M> | undefined;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private appliedHeight = 0n;
  /** The last checkpoint's store and `applied` step, behind the batches applied after it (see `applyBatch`). */
  private storing: Promise<void> = Promise.resolve();
  private storesInFlight = 0;
  /** Wakes the applying loop while it waits for a store: a store ended, or batches came. */
  private wake: (() => void) | undefined;
  /** Committed batches not yet applied, in height order (see `applyInBackground`). */
  private applyQueue: CommittedBatch[] = [];
  /** Whether the loop applying `applyQueue` runs; cleared by the loop itself as it ends. */
  private draining = false;
  /** That loop, for whoever waits for it (`idle`, a restore): settled once `draining` is false. */
  private applying: Promise<void> = Promise.resolve();
  private running = false;
  private stopping = false;
  private stopCall: Promise<void> | undefined;
  private processing: Promise<void> | undefined;
  private kicked = false;
  /** Overlapped syncs still running (persist-only and deferred ones, see `handle`). */
  private overlapped = 0;
  /**
   * Of those, the syncs of persists that are not deferrable: a later Ready's sends must wait for
   * them, so while one runs a deferrable Ready is handled like any other (its sync is awaited).
   */
  private overlappedGating = 0;
  /** Highest persist id stepped into the core as `persisted`. */
  private persistedId = 0n;
  /** Deferred persists staged but not yet covered by a sync (see `PersistRequest.deferrable`). */
  private deferred: { upTo: bigint; records: number; bytes: number; timer: NodeJS.Timeout } | undefined;
  private fatal: Error | undefined;
  private readonly knownClients = new Set<NodeId>();
  /** The last state digest: its height, the restores before it, when it was taken and how long it took (ms). */
  private digestCache: { height: bigint; restores: number; digest: Uint8Array; at: number; ms: number } | undefined;
  /** Callers of `digestState` waiting for the applying loop to reach them (see `digestState`). */
  private digestWaiters: Array<{ resolve: (d: StateDigest) => void; reject: (err: Error) => void }> = [];
  /** State restores so far: a restore may install another state at a height already seen. */
  private restores = 0;
  /** Messages and client frames waiting for (or in) signature pre-verification, in arrival order. */
  private verifyQueue: PendingVerify<M>[] = [];
  /** Sources (`peer:<id>`, `client:<id>`) left to inline verification, until when (ms; Infinity: while isolated). */
  private readonly poolDistrust = new Map<string, number>();
  /** Until when (`performance.now()`) the pool is not asked, after it gave no answer in time. */
  private poolDownUntil = -Infinity;
  private verifying = false;
  private readonly m = {
    messagesIn: 0,
    messagesOut: 0,
    malformed: {} as Record<string, number>,
    persists: 0,
    recordsPersisted: 0,
    requestsApplied: 0,
    duplicates: 0,
    repliesSent: 0,
    timersFired: 0,
    timersExtended: 0,
    preverified: 0,
  };

  /** Throws `ConfigError` (path: the option's name) for a numeric option out of its range. */
  constructor(opts: ReplicaOptions<M, C>) {
    validateOptions(opts);
    this.o = opts;
    this.self = opts.self;
    this.log = (opts.logger ?? silentLogger).child({ component: 'replica', node: opts.self, protocol: opts.protocol.name });
    this.hooks = opts.hooks ?? {};
    this.state = new ReplicatedState(opts.stateMachine, opts.resultsPerClient ?? 256);
    this.verified =
      opts.verifiedCache ??
      createVerifiedCache({
        capacity: opts.verifiedCacheSize ?? 65_536,
        ...(opts.verifier ? { verifier: opts.verifier } : {}),
      });
    // The older per-definition hook, which could not see the validators or the config.
    const fromDef = (opts.protocol as { preverify?: Preverifier<M> }).preverify;
    this.preverifyFn = opts.preverify ?? (typeof fromDef === 'function' ? fromDef.bind(opts.protocol) : undefined);
  }

  /** The cache-backed verifier handed to the core (exposed for tests and metrics). */
  get verifier(): Verifier {
    return this.verified;
  }

  /** Recovers from storage, creates the core, starts the transport. */
  async start(): Promise<void> {
    if (this.running) return;
    const rec = await readRecoveredState(this.o.storage);
    if (rec.snapshot) {
      this.state.restore(rec.snapshot.data);
      this.appliedHeight = rec.snapshot.height;
    }
    const { snapshotDigest: _d, ...recovered } = rec;
    const isFresh = !rec.hardState && rec.log.length === 0 && !rec.snapshot;
    const ctx: CoreContext = {
      self: this.o.self,
      validators: this.o.validators,
      signer: this.o.signer,
      verifier: this.verified,
      rng: this.o.rng ?? cryptoRng,
      logger: this.log,
    };
    this.core = this.o.protocol.create(ctx, this.o.config, isFresh ? undefined : recovered);
    if (this.o.batchVerifier && !this.preverifyFn && this.o.protocol.preverifier) this.preverifyFn = this.o.protocol.preverifier(ctx, this.o.config);
    this.log.info({ appliedHeight: this.appliedHeight, logRecords: rec.log.length, fresh: isFresh }, 'replica starting');
    this.running = true;
    this.stopping = false;
    this.o.transport.onFrame((from, frame) => this.onFrame(from, frame));
    this.o.clients?.onFrame((client, frame) => this.onClientFrame(client, frame));
    await this.o.transport.start();
    this.kick();
  }

  /**
   * Stops accepting input, drains the outputs already produced, syncs, steps `stop` into the core
   * and syncs its answer's persist on its own (`recordCleanStop`), closes.
   */
  async stop(): Promise<void> {
    // A second call while the first runs waits for it: it must not close the storage under the
    // first one's last syncs.
    if (this.stopCall) return this.stopCall;
    if (!this.running) return;
    this.stopCall = this.stopOnce().finally(() => (this.stopCall = undefined));
    return this.stopCall;
  }

  private async stopOnce(): Promise<void> {
    this.stopping = true;
    this.verifyQueue = []; // not yet stepped: dropped like any message arriving during shutdown
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await this.idle(); // drain: what the core already decided is persisted and sent
    if (this.deferred) clearTimeout(this.deferred.timer);
    this.deferred = undefined; // the sync below covers what it staged
    this.running = false;
    try {
      if (!this.fatal) {
        await this.o.storage.sync();
        await this.recordCleanStop();
      }
    } finally {
      if (this.o.closeOnStop !== false) {
        await this.o.transport.stop();
        // A storage that already failed (the reason we halted) may refuse to close cleanly too.
        await this.o.storage.close().catch((err: unknown) => {
          if (!this.fatal) throw err;
        });
      }
    }
    this.log.info({ appliedHeight: this.appliedHeight }, 'replica stopped');
  }

  /**
   * Steps `stop` (see `Input` in @phalanx/interface) once everything before it is durable, and
   * makes the persist of the core's answer durable in a sync of its own: only after the writes it
   * vouches for. Its sends, if any, are dropped: the replica has stopped.
   */
  private async recordCleanStop(): Promise<void> {
    const core = this.core;
    if (!core) return;
    try {
      core.step({ type: 'stop' });
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'core threw on stop: no clean-stop record');
      return;
    }
    if (!core.hasReady()) return;
    const p = core.ready().persist;
    if (!p) return;
    stagePersist(this.o.storage, p);
    await this.o.storage.sync();
  }

  /** Steps a client request directly (in-process use; remote clients use the client plane). */
  submit(request: ClientRequest): void {
    this.input({ type: 'request', request });
  }

  status(): ReturnType<ProtocolCore<M>['status']> | undefined {
    return this.core?.status();
  }

  /**
   * The highest seq of `client` this replica has executed (its recovered state included), undefined
   * if none. A client that keeps its id across restarts starts its seqs above it (with a clock as
   * well: a command of the last run may still commit elsewhere before this replica applies it).
   */
  highestExecuted(client: NodeId): bigint | undefined {
    return this.state.highestExecuted(client);
  }

  get committedHeight(): bigint {
    return this.appliedHeight;
  }

  /**
   * Digest of the replicated state (application + client table) right now. It snapshots the whole
   * state, so it is computed once per applied height: status endpoints polled every second no
   * longer pay O(state) each time nothing committed, and pay it at most once per height otherwise.
   * Synchronous: on a large state it holds the event loop for the whole snapshot (seconds at a
   * million KV keys). Serve callers from outside the replica (an HTTP API) with `digestState`.
   */
  stateDigest(): Uint8Array {
    const cached = this.digestCache;
    if (cached && cached.height === this.appliedHeight && cached.restores === this.restores) return cached.digest.slice();
    const t0 = performance.now();
    const digest = ReplicatedState.digest(this.state.snapshot());
    this.digestCache = { height: this.appliedHeight, restores: this.restores, digest, at: performance.now(), ms: performance.now() - t0 };
    return digest.slice();
  }

  /**
   * The digest of the replicated state and the applied height it is of, computed without holding
   * the event loop: in slices, by the applying loop between two batches (the only place the state
   * is unchanged across slices), so a status request on a large state no longer silences the
   * replica for the seconds a snapshot takes, which its peers could take for a crash. Cached per
   * height like `stateDigest`. Under load it waits for the batch being applied and for a
   * checkpoint snapshot being taken, not for the queue behind them; and once the height has
   * moved, a new digest is taken only after `DIGEST_REST` times the last one's duration (the last
   * one, with its older height, answers meanwhile), so callers polling it cannot slow
   * applying to one batch per digest, or back up the applying queue until the replica stops
   * handling messages (`maxApplyBacklog`). Rejects when called on a halted or stopped replica.
   */
  digestState(): Promise<StateDigest> {
    if (this.fatal) return Promise.reject(this.fatal);
    if (!this.running || this.stopping || !this.core) return Promise.reject(new ReplicaError('replica is not running'));
    const cached = this.digestCache;
    if (!this.draining && cached && cached.height === this.appliedHeight && cached.restores === this.restores) {
      return Promise.resolve({ height: this.appliedHeight, digest: cached.digest.slice() });
    }
    const out = new Promise<StateDigest>((resolve, reject) => this.digestWaiters.push({ resolve, reject }));
    if (this.draining) this.wake?.();
    else {
      this.draining = true;
      this.applying = this.applyQueued(this.core);
    }
    return out;
  }

  /** Answers every `digestState` caller waiting; called by the applying loop only. */
  private async answerDigestWaiters(): Promise<void> {
    const waiters = this.digestWaiters.splice(0);
    try {
      const height = this.appliedHeight;
      const restores = this.restores;
      const cached = this.digestCache;
      const rested = cached === undefined || performance.now() - cached.at >= DIGEST_REST * cached.ms;
      if (cached && cached.restores === restores && (cached.height === height || !rested)) {
        for (const w of waiters) w.resolve({ height: cached.height, digest: cached.digest.slice() });
        return;
      }
      const t0 = performance.now();
      const snapshot = await sliced(this.state.snapshotSteps());
      const digest = await sliced(ReplicatedState.digestSteps(snapshot));
      this.digestCache = { height, restores, digest, at: performance.now(), ms: performance.now() - t0 };
      for (const w of waiters) w.resolve({ height, digest: digest.slice() });
    } catch (err) {
      // The application's snapshot threw: its callers hear of it; the replica goes on (the state
      // was not changed, and a checkpoint would meet the same error and halt there).
      for (const w of waiters) w.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  metrics(): ReplicaMetrics {
    return { ...this.m, malformed: { ...this.m.malformed }, committedHeight: this.appliedHeight };
  }

  /** Resolves once processing is idle (no Ready pending). For tests and orderly shutdown. */
  async idle(): Promise<void> {
    while (this.processing || this.draining || this.kicked || this.verifying || this.overlapped > 0 || (!this.stopping && this.verifyQueue.length > 0)) {
      await (this.processing ?? (this.draining ? this.applying : new Promise((r) => setImmediate(r))));
    }
  }

  private input(i: Input<M>): void {
    if (!this.running || this.stopping || this.fatal || !this.core) return;
    try {
      this.core.step(i);
    } catch (err) {
      // Cores never throw on input (interface `ProtocolCore.step`): one that does is broken, and the
      // replica stops taking part rather than act on a half-applied step (or end the process from
      // a transport callback).
      this.fail(err instanceof Error ? err : new Error(`core threw ${String(err)}`));
      return;
    }
    this.kick();
  }

  private onFrame(from: NodeId, frame: Uint8Array): void {
    if (!this.running || this.stopping) return;
    if (!this.o.validators.has(from) || from === this.self) {
      this.countMalformed(from, 'frame from a non-validator');
      return;
    }
    let msg: M;
    try {
      if (frame.length > (this.o.maxMessageBytes ?? 16 * 1024 * 1024)) throw new DecodeError(`message of ${frame.length} bytes exceeds the limit`);
      msg = this.o.protocol.codec.decode(frame);
    } catch (err) {
      this.countMalformed(from, (err as Error).message);
      return;
    }
    this.m.messagesIn++;
    this.hooks.onMessage?.({ from, bytes: frame.length });
    if (this.preverifyFn && this.o.batchVerifier) {
      let items: readonly VerifyItem[] = [];
      // Nothing is listed for a peer the pool is closed to: its walk would be thrown away.
      if (this.poolOpenTo(`peer:${from}`)) {
        try {
          items = this.unverified(this.preverifyFn(msg, from));
        } catch {
          items = []; // the core will verify (and judge) the message itself
        }
      }
      if (this.queueForPool({ kind: 'message', from, msg, items })) return;
    }
    this.input({ type: 'message', from, msg });
  }

  /** `items` the verified cache does not hold yet, each (signature, message) object pair once. */
  private unverified(items: readonly VerifyItem[]): VerifyItem[] {
    const out: VerifyItem[] = [];
    const seen = new Map<Uint8Array, Uint8Array[]>();
    for (const it of items) {
      const messages = seen.get(it.signature);
      if (messages?.includes(it.message) || this.verified.cached(it)) continue;
      if (messages) messages.push(it.message);
      else seen.set(it.signature, [it.message]);
      out.push(it);
    }
    return out;
  }

  /**
   * Queues `p` for the pool when it has enough unverified signatures, or when earlier input is
   * still queued (arrival order is kept). False: step it now, the core verifies inline.
   *
   * The pool verifies every listed signature, where the core stops at the first bad one (or drops
   * a message it does not need unread). So a source whose signatures the pool found invalid is
   * left to the core for a while, as is a peer the core isolated, and a list over
   * MAX_PREVERIFY_ITEMS (a hook that does not cap itself) is never sent: a hostile peer or client
   * cannot buy more verifications than inline checking would cost.
   */
  private queueForPool(p: PendingVerify<M>): boolean {
    if (this.fatal) return false; // halted: `input` drops it
    const queued = this.verifyQueue.length > 0 || this.verifying;
    const inline = p.items.length < Math.max(1, this.o.minPoolItems ?? 2) || p.items.length > MAX_PREVERIFY_ITEMS || !this.poolOpenTo(sourceOf(p));
    if (inline) {
      if (!queued) return false;
      // Behind queued input, still in order, but with nothing for the pool.
      this.verifyQueue.push({ ...p, items: [] });
    } else this.verifyQueue.push(p);
    this.scheduleVerify();
    return true;
  }

  /** Whether the pool would take `source`'s signatures now (else listing them is wasted work). */
  private poolOpenTo(source: string): boolean {
    return !this.fatal && !this.poolDown() && !this.distrusted(source);
  }

  /** Whether `source`'s signatures go unverified to the core (see `queueForPool`). */
  private distrusted(source: string): boolean {
    const until = this.poolDistrust.get(source);
    if (until === undefined) return false;
    if (until > performance.now()) return true;
    this.poolDistrust.delete(source);
    return false;
  }

  /** Leaves `source` to the core until `until` (ms, `performance.now()`), never shortening a longer spell (isolation is Infinity). */
  private distrust(source: string, until: number): void {
    if ((this.poolDistrust.get(source) ?? -Infinity) < until) this.poolDistrust.set(source, until);
  }

  /** Whether the pool is left alone for now (it gave no answer in time, see `runVerify`). */
  private poolDown(): boolean {
    return this.poolDownUntil > performance.now();
  }

  /**
   * What of `batch` goes to the pool: per source at most MAX_PREVERIFY_ITEMS, in all at most
   * MAX_POOL_BATCH, and nothing of a source distrusted since it was queued. A burst of messages
   * queued before the pool's first verdict on their sender would otherwise all go at once; the
   * rest is left to the core, as without a pool. Returns the items per entry, in order.
   */
  private poolShare(batch: readonly PendingVerify<M>[]): (readonly VerifyItem[])[] {
    const perSource = new Map<string, number>();
    let total = 0;
    return batch.map((b) => {
      if (b.items.length === 0) return b.items;
      const source = sourceOf(b);
      const used = perSource.get(source) ?? 0;
      if (this.distrusted(source) || used + b.items.length > MAX_PREVERIFY_ITEMS || total + b.items.length > MAX_POOL_BATCH) return [];
      perSource.set(source, used + b.items.length);
      total += b.items.length;
      return b.items;
    });
  }

  private countMalformed(peer: NodeId, error: string): void {
    this.m.malformed[peer] = (this.m.malformed[peer] ?? 0) + 1;
    this.hooks.onMalformed?.({ peer, error });
    if (this.m.malformed[peer] === 1 || this.m.malformed[peer]! % 1000 === 0) {
      this.log.warn({ peer, error, count: this.m.malformed[peer] }, 'dropped malformed message');
    }
  }

  /**
   * Pre-verification keeps arrival order: messages queue while a batch is on the worker pool and
   * are stepped, in order, once their batch returns. Valid signatures land in the verified cache,
   * so the core's synchronous `verify` of the same bytes is a lookup.
   */
  private scheduleVerify(): void {
    if (this.verifying) return;
    this.verifying = true;
    setImmediate(() => void this.runVerify());
  }

  private async runVerify(): Promise<void> {
    try {
      while (this.verifyQueue.length > 0 && this.running && !this.stopping) {
        const batch = this.verifyQueue;
        this.verifyQueue = [];
        const shares = this.poolDown() ? batch.map(() => []) : this.poolShare(batch);
        const items = shares.flat();
        if (items.length > 0) {
          try {
            const t0 = performance.now();
            const results = await this.poolVerify(items);
            this.m.preverified += items.length;
            this.hooks.onPreverify?.({ items: items.length, valid: results.filter((ok) => ok).length, ms: performance.now() - t0 });
            // A source that sent a signature the pool refused is left to the core for a while.
            let at = 0;
            batch.forEach((b, i) => {
              const n = shares[i]!.length;
              if (results.slice(at, at + n).includes(false)) this.distrust(sourceOf(b), performance.now() + POOL_DISTRUST_MS);
              at += n;
            });
          } catch (err) {
            // A pool that timed out is not asked again for a while: every later batch would wait as long.
            if (err instanceof PoolTimeoutError) this.poolDownUntil = performance.now() + POOL_DISTRUST_MS;
            this.log.warn({ err: (err as Error).message }, 'batch verification failed; the core verifies inline');
          }
        }
        for (const b of batch) {
          if (b.kind === 'message') this.input({ type: 'message', from: b.from, msg: b.msg });
          else this.admitClientFrame(b.client, b.frame, b.runs);
        }
      }
    } finally {
      this.verifying = false;
      if (this.verifyQueue.length > 0 && this.running && !this.stopping) this.scheduleVerify();
    }
  }

  /**
   * The pool's verdicts, or a `PoolTimeoutError` after `poolTimeoutMs`: a pool that stops answering
   * must not hold every later message (the core then verifies inline, as without a pool).
   */
  private poolVerify(items: readonly VerifyItem[]): Promise<boolean[]> {
    const ms = this.o.poolTimeoutMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new PoolTimeoutError(`worker pool gave no answer for ${items.length} signatures in ${ms} ms`)), ms);
      timer.unref();
    });
    return Promise.race([this.verified.preverify(this.o.batchVerifier!, items), deadline]).finally(() => clearTimeout(timer));
  }

  private onClientFrame(client: NodeId, frame: Uint8Array): void {
    if (!this.running || this.stopping) return;
    let f;
    try {
      f = decodeClientFrame(frame, this.o.maxMessageBytes ?? 16 * 1024 * 1024);
    } catch (err) {
      this.countMalformed(client, (err as Error).message);
      return;
    }
    if (f.type !== 'request') {
      this.countMalformed(client, 'clients may only send requests');
      return;
    }
    this.knownClients.add(client);
    const auth = this.o.clientAuth;
    if (!auth || !f.sigs) {
      this.admitClientFrame(client, f, undefined);
      return;
    }
    // The digests are computed from the requests themselves, so every request matches its place;
    // what remains to check is each run's group signature, on the pool when there is one.
    const runs = f.sigs.map((sig, i) => groupOf(client, f.requests.slice(i * MAX_GROUP_SIZE, (i + 1) * MAX_GROUP_SIZE), sig, sha256Native));
    if (this.o.batchVerifier && auth.verifyItem) {
      const items: VerifyItem[] = [];
      if (this.poolOpenTo(`client:${client}`)) {
        for (const run of runs) {
          const it = auth.verifyItem(run[0]!.auth!.group);
          if (it) items.push(it);
        }
      }
      if (this.queueForPool({ kind: 'client', client, frame: f, runs, items: this.unverified(items) })) return;
    }
    this.admitClientFrame(client, f, runs);
  }

  /** A decoded client frame, its runs rebuilt as signed groups when it carries signatures. */
  private admitClientFrame(client: NodeId, f: RequestFrame, runs: readonly ClientRequest[][] | undefined): void {
    if (!this.running || this.stopping) return;
    const maxPayload = this.o.maxRequestBytes ?? 1024 * 1024;
    const requests = this.authenticate(client, f, runs);
    // Retries answered from the reply cache, one frame per height they committed at; refusals one
    // frame per reason.
    const cached = new ReplyGroups();
    const tooLarge: bigint[] = [];
    const expired: bigint[] = [];
    for (const r of requests) {
      if (r.payload.length > maxPayload) {
        tooLarge.push(r.seq);
        continue;
      }
      const duplicate = this.state.executed(client, r.seq);
      this.hooks.onClientRequest?.({ client, seq: r.seq, duplicate });
      if (!duplicate) {
        this.input({ type: 'request', request: r });
        continue;
      }
      // Exactly once: answer a retry from the reply cache instead of ordering it again.
      const hit = this.state.result(client, r.seq);
      if (!hit) {
        expired.push(r.seq);
        continue;
      }
      cached.add(client, hit.height, undefined, { seq: r.seq, result: hit.result });
    }
    this.reject(client, tooLarge, 'too-large', `payload over ${maxPayload} bytes`);
    this.reject(client, expired, 'expired', 'executed; result no longer cached');
    cached.send((to, frame) => this.replyTo(to, frame));
  }

  /**
   * Refuses `seqs`. Up to SINGLE_REJECTS of them one frame each, which every version-3 client
   * reads; more in as few frames as they fit, since a frame per request would answer one small
   * frame with thousands (a client older than `more` drops those, and its requests time out).
   */
  private reject(client: NodeId, seqs: readonly bigint[], code: RejectCode, text: string): void {
    // Clients decode at most 512 UTF-16 units of message (a reason may quote two client ids); never
    // cut a surrogate pair, which the codec refuses to encode.
    let message = text;
    if (text.length > 512) {
      const cut = /[\uD800-\uDBFF]/.test(text[508]!) ? 508 : 509;
      message = `${text.slice(0, cut)}...`;
    }
    const per = seqs.length <= SINGLE_REJECTS ? 1 : MAX_FRAME_ITEMS;
    for (let i = 0; i < seqs.length; i += per) {
      const part = seqs.slice(i, i + per);
      this.replyTo(client, { type: 'reject', seq: part[0]!, ...(part.length > 1 ? { more: part.slice(1) } : {}), code, message });
    }
  }

  /**
   * The frame's requests as the core gets them: with their client's signature attached when
   * clients are authenticated. From the first run whose signature fails (or all of a frame without
   * signatures) the requests are refused with `unauthenticated`, the client is counted once, and
   * the later runs are not checked: an honest client signs every run with one key, and checking on
   * would let one frame of 32 forged runs cost 32 signature verifications.
   */
  private authenticate(client: NodeId, f: RequestFrame, runs: readonly ClientRequest[][] | undefined): ClientRequest[] {
    const auth = this.o.clientAuth;
    if (!auth) return f.requests.map((r) => ({ client, seq: r.seq, payload: r.payload }));
    const refuse = (from: number, why: string) => {
      this.countMalformed(client, why);
      this.reject(client, f.requests.slice(from).map((r) => r.seq), 'unauthenticated', why);
    };
    if (!f.sigs || !runs) {
      refuse(0, 'this network authenticates clients: requests must be signed');
      return [];
    }
    const out: ClientRequest[] = [];
    for (const [i, signed] of runs.entries()) {
      // One check per run: the group signature (a verified-cache hit when the pool checked it).
      const why = auth.check(signed[0]!);
      if (why !== undefined) {
        const rest = runs.length - i - 1;
        refuse(i * MAX_GROUP_SIZE, rest > 0 ? `${why} (signed group ${i}; the ${rest} after it refused unchecked)` : why);
        break;
      }
      out.push(...signed);
    }
    return out;
  }

  private replyTo(client: NodeId, frame: ClientFrame): void {
    if (!this.o.clients) return;
    let bytes: Uint8Array;
    try {
      bytes = encodeClientFrame(frame);
    } catch (err) {
      // A frame we cannot encode (a bug, or a result the application made too large) is dropped
      // and logged: this runs in the transport's delivery callback, where a throw would end the process.
      this.log.error({ client, type: frame.type, err: (err as Error).message }, 'client frame not encodable; dropped');
      return;
    }
    this.o.clients.send(client, bytes);
    this.m.repliesSent += frame.type === 'reply' ? frame.results.length : frame.type === 'reject' ? 1 + (frame.more?.length ?? 0) : 1;
  }

  private kick(): void {
    if (this.kicked || this.processing) return;
    this.kicked = true;
    // A microtask later, so every input of this tick lands in one Ready (one fsync, one write).
    queueMicrotask(() => {
      this.kicked = false;
      if (this.processing || !this.running) return;
      this.processing = this.process().finally(() => {
        this.processing = undefined;
        // Inputs stepped while the last Ready was in flight (their kick saw `processing` set).
        if (!this.fatal && this.running && this.core?.hasReady()) this.kick();
      });
    });
  }

  private async process(): Promise<void> {
    const core = this.core;
    if (!core) return;
    try {
      while (!this.fatal && core.hasReady()) {
        await this.handle(core, core.ready());
      }
    } catch (err) {
      this.fail(err as Error);
    }
  }

  private fail(err: Error): void {
    if (this.fatal) return;
    this.fatal = err;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    if (this.deferred) clearTimeout(this.deferred.timer);
    this.deferred = undefined;
    this.log.error({ err: err.message }, 'replica halted');
    this.hooks.onFatal?.(err);
  }

  private async handle(core: ProtocolCore<M>, rd: Ready<M>): Promise<void> {
    // 1. persist, durable before anything of this Ready leaves the process
    const deferrable = rd.persist?.deferrable === true && this.overlappedGating === 0;
    const overlap = !deferrable && rd.persist !== undefined && rd.send.length === 0 && rd.commit.length === 0 && !rd.restore;
    if (rd.persist) {
      const p = rd.persist;
      const storage = this.o.storage;
      stagePersist(storage, p);
      const t0 = performance.now();
      let records = p.append.length;
      let bytes = p.append.reduce((n, r) => n + r.data.length, 0) + (p.hardState?.length ?? 0);
      if (deferrable) {
        // Handled below as if this Ready had no persist: its sends and commits do not wait.
        this.defer(core, p.id, records, bytes);
      } else {
        if (this.deferred) {
          // This sync covers the deferred writes staged before it.
          records += this.deferred.records;
          bytes += this.deferred.bytes;
          clearTimeout(this.deferred.timer);
          this.deferred = undefined;
        }
        const done = (): void => {
          this.m.persists++;
          this.m.recordsPersisted += records;
          this.hooks.onPersist?.({ id: p.id, records, bytes, syncMs: performance.now() - t0 });
        };
        if (overlap) {
          // Nothing here waits on durability (see Ready in @phalanx/interface): overlap this sync
          // with the next Ready, whose own sync — awaited before its sends — covers these writes too.
          this.overlapped++;
          this.overlappedGating++;
          storage.sync().then(
            () => {
              this.overlapped--;
              this.overlappedGating--;
              done();
              this.persistedUpTo(core, p.id);
              this.kick();
            },
            (err: unknown) => {
              this.overlapped--;
              this.overlappedGating--;
              this.fail(err as Error);
            },
          );
        } else {
          await storage.sync();
          done();
        }
      }
    }
    // 2. send
    for (const out of rd.send) {
      const bytes = this.o.protocol.codec.encode(out.msg);
      if (out.to === 'all') this.o.transport.broadcast(bytes);
      else if (out.to === this.self) queueMicrotask(() => this.input({ type: 'message', from: this.self, msg: out.msg }));
      else this.o.transport.send(out.to, bytes);
      this.m.messagesOut++;
      this.hooks.onSend?.({ to: out.to, bytes: bytes.length });
    }
    // An awaited sync also covered every overlapped one started before it.
    if (rd.persist && !overlap && !deferrable) this.persistedUpTo(core, rd.persist.id);
    // 3. restore, then commits in order
    if (rd.restore) {
      // What was committed before it is applied first (or found below it and skipped).
      while (this.draining) await this.applying;
      if (this.fatal) return;
      this.state.restore(rd.restore.snapshot);
      this.restores++;
      this.appliedHeight = rd.restore.height;
      // Stored as the latest snapshot before anything else of the core's is handled: a restart
      // resumes from the transferred state, not from an older snapshot the core's log may no longer
      // reach (HotStuff rewrites its log to start at the installed block in the Ready after this).
      await this.storeSnapshot(core, rd.restore.height, rd.restore.snapshot);
      this.log.info({ height: rd.restore.height }, 'state restored from snapshot');
    }
    this.applyInBackground(core, rd.commit);
    // Bounded: a core that commits faster than checkpoints are taken (HotStuff) would otherwise
    // queue without end, in memory and in its clients' wait for replies.
    while (this.draining && this.applyQueue.length > (this.o.maxApplyBacklog ?? 256)) await this.applying;
    // 4. timers
    for (const t of rd.timers) {
      const prev = this.timers.get(t.id);
      if (prev) clearTimeout(prev);
      this.timers.delete(t.id);
      if (t.op === 'set' && !this.stopping) this.armTimer(t.id, Math.max(0, t.ms), false);
    }
    for (const e of rd.events) {
      this.hooks.onEvent?.(e);
      // An isolated peer's messages are judged by the core (which drops them), never by the pool.
      if (e.type === 'peer-status') {
        if (e.status === 'isolated') this.distrust(`peer:${e.peer}`, Infinity);
        else if (this.poolDistrust.get(`peer:${e.peer}`) === Infinity) this.poolDistrust.delete(`peer:${e.peer}`);
      }
      if (e.type === 'misbehaviour') {
        // Stale and future messages are what delay looks like (a slow peer's vote arriving after its
        // quorum formed), from honest peers too: cores report them without blame, so they are logged
        // at debug, not as a warning a healthy cluster raises at every checkpoint. `onEvent` (the
        // apps' misbehaviour metrics) still sees every one.
        const level = e.kind === 'stale' || e.kind === 'future' ? 'debug' : 'warn';
        this.log[level]({ peer: e.peer, kind: e.kind, detail: e.detail }, 'peer misbehaviour');
      } else if (e.type === 'view-change') this.log.info({ from: String(e.from), to: String(e.to), reason: e.reason }, 'view change');
    }
  }

  /**
   * Stages a deferrable persist's acknowledgement: the next sync that is not deferred covers its
   * writes; if none comes within `deferredSyncMs`, a sync of its own does (`syncDeferred`).
   */
  private defer(core: ProtocolCore<M>, id: bigint, records: number, bytes: number): void {
    if (this.deferred) {
      this.deferred.upTo = id;
      this.deferred.records += records;
      this.deferred.bytes += bytes;
      return;
    }
    const timer = setTimeout(() => {
      if (this.deferred?.timer !== timer || this.fatal || !this.running) return;
      this.syncDeferred(core).catch((err: unknown) => this.fail(err as Error));
    }, this.o.deferredSyncMs ?? 10);
    this.deferred = { upTo: id, records, bytes, timer };
  }

  /** Makes the deferred writes durable now and acknowledges them. */
  private async syncDeferred(core: ProtocolCore<M>): Promise<void> {
    const d = this.deferred;
    if (!d) return;
    clearTimeout(d.timer);
    this.deferred = undefined;
    this.overlapped++;
    const t0 = performance.now();
    try {
      await this.o.storage.sync();
    } finally {
      this.overlapped--;
    }
    this.m.persists++;
    this.m.recordsPersisted += d.records;
    this.hooks.onPersist?.({ id: d.upTo, records: d.records, bytes: d.bytes, syncMs: performance.now() - t0 });
    this.persistedUpTo(core, d.upTo);
    this.kick();
  }

  /**
   * Steps `timeout` for `id` after `ms`, measured as time this replica was awake to hear what would
   * have made the core cancel it. A core's timeout is a claim about its peers ("the primary has been
   * silent for `ms`"), but a replica whose own event loop was blocked (a checkpoint of a large
   * state, a long GC) heard nothing for that time, and Node runs due timers before it reads the
   * sockets that filled meanwhile, so such a timer can start a view change against a live primary
   * (checkpoints no longer block the loop for long, see `applyInBackground`; a long GC or an
   * application without `snapshotSteps` still can).
   * So a timer that fires late by more than `lateSlackMs(ms)` is re-armed, once, for the time it
   * overslept (at most `ms`): its messages are read first. Once, so a peer that keeps this replica
   * busy can delay a timeout by at most `ms` beyond the stall itself; timeouts only decide liveness,
   * never safety.
   */
  private armTimer(id: string, ms: number, extended: boolean): void {
    const due = performance.now() + ms;
    const handle = setTimeout(() => {
      if (this.timers.get(id) !== handle) return;
      const late = performance.now() - due;
      if (!extended && late > lateSlackMs(ms)) {
        this.m.timersExtended++;
        this.hooks.onTimerLate?.({ timer: id, lateMs: late });
        this.log.debug({ timer: id, ms, lateMs: Math.round(late) }, 'timer fired late after a blocked event loop: re-armed once');
        this.armTimer(id, Math.min(late, ms), true);
        return;
      }
      this.timers.delete(id);
      this.m.timersFired++;
      this.hooks.onTimer?.({ timer: id });
      this.input({ type: 'timeout', timer: id });
    }, ms);
    this.timers.set(id, handle);
  }

  /** Steps `persisted` once per id, in order (an overlapped sync may finish after a later one). */
  private persistedUpTo(core: ProtocolCore<M>, id: bigint): void {
    if (id <= this.persistedId || this.fatal || !this.running) return;
    this.persistedId = id;
    core.step({ type: 'persisted', upTo: id });
  }

  /**
   * Applies `batches` after those already queued, without holding up the Readies behind them. A
   * checkpoint (`reportState`) encodes and stores the whole state, which takes seconds once it is
   * large (~2.5 s for a million KV keys on this project's machines): while it was awaited here, the
   * replica sent nothing, and a primary that went silent for seconds at every checkpoint was voted
   * out. Now its messages go on, the cores keep ordering (PBFT up to its high watermark, which a
   * checkpoint's own `applied` moves), and only applying, with its client replies, waits.
   */
  private applyInBackground(core: ProtocolCore<M>, batches: readonly CommittedBatch[]): void {
    if (batches.length === 0 || this.fatal) return;
    this.applyQueue.push(...batches);
    if (this.draining) {
      this.wake?.();
      return;
    }
    this.draining = true;
    this.applying = this.applyQueued(core);
  }

  private async applyQueued(core: ProtocolCore<M>): Promise<void> {
    try {
      for (;;) {
        for (let next = this.applyQueue.shift(); next && !this.fatal; next = this.applyQueue.shift()) {
          await this.applyBatch(core, next);
          if (this.digestWaiters.length > 0 && !this.fatal) await this.answerDigestWaiters();
        }
        if (this.digestWaiters.length > 0 && !this.fatal) {
          await this.answerDigestWaiters();
          continue; // batches may have come meanwhile
        }
        // Ends in the same turn as its last look at the queue (see `finally`).
        // Not before a store under way ends, halted or not: a stop must not close storage under it.
        if (this.storesInFlight === 0 && (this.fatal || this.applyQueue.length === 0)) break;
        // A checkpoint still being stored keeps the loop (and so `draining`) alive, as restores
        // and stops need, until it is stored or more batches come to be applied.
        await new Promise<void>((r) => (this.wake = r));
        this.wake = undefined;
      }
    } catch (err) {
      this.fail(err as Error);
    } finally {
      // In the same turn as the last look at the queue: a batch queued a moment later must find
      // the loop gone and start another, not be left behind by one about to end.
      this.draining = false;
      if (this.fatal) {
        this.applyQueue = [];
        for (const w of this.digestWaiters.splice(0)) w.reject(this.fatal);
      }
    }
  }

  private async applyBatch(core: ProtocolCore<M>, batch: CommittedBatch): Promise<void> {
    if (batch.height <= this.appliedHeight) return; // already in the restored state (replay after restart)
    if (batch.height !== this.appliedHeight + 1n) {
      throw new ReplicaError(`core committed height ${batch.height} after ${this.appliedHeight}: heights must be consecutive`);
    }
    const t0 = performance.now();
    const applied = this.state.apply(batch);
    this.appliedHeight = batch.height;
    const leader = this.knownClients.size > 0 ? core.status().leader : undefined;
    let dup = 0;
    // One reply frame per client and height: a client's requests in this batch share the proof.
    const replies = new ReplyGroups();
    for (const a of applied) {
      if (a.duplicate) dup++;
      if (!this.knownClients.has(a.request.client)) continue;
      // Ordered again (a retry that raced its first copy): answered with its first height, no proof.
      replies.add(a.request.client, a.height, a.duplicate ? undefined : batch.proof, { seq: a.request.seq, result: a.result });
    }
    replies.send((client, frame) => this.replyTo(client, { ...frame, ...(leader !== undefined ? { leader } : {}) }));
    this.m.requestsApplied += applied.length - dup;
    this.m.duplicates += dup;
    this.hooks.onCommit?.({
      height: batch.height,
      requests: applied.length,
      duplicates: dup,
      applyMs: performance.now() - t0,
      ...(batch.proof ? { proof: batch.proof } : {}),
    });
    if (batch.reportState) {
      // One store behind at most: each holds a whole snapshot, and a core that commits faster than
      // states are stored (HotStuff) would otherwise queue them without bound.
      if (this.storesInFlight > 0) await this.storing;
      if (this.fatal) return;
      // In slices, the event loop let run between them, and the state unchanged until the last:
      // nothing else applies meanwhile (this is the only applier), and restores wait for it.
      const snapshot = await sliced(this.state.snapshotSteps());
      if (this.fatal) return; // halted meanwhile: nothing more is stored
      // The bytes are taken; hashing and storing them (0.3–0.7 s at 450k KV keys) goes on behind
      // the batches that follow, whose applying and replies need not wait for it. One store at a
      // time, in height order; `applyQueued` waits for the last before it ends.
      const previous = this.storing;
      this.storesInFlight++;
      this.storing = (async () => {
        await previous;
        if (this.fatal) return;
        // Durable before the core hears of it: the core may compact its log once the checkpoint is stable.
        const stateDigest = await this.storeSnapshot(core, batch.height, snapshot);
        if (this.fatal) return;
        // The state digest is SHA-256 of these very bytes (`ReplicatedState.digestSteps`), hashed
        // in slices: the core need not hash them again in one go.
        core.step({ type: 'applied', height: batch.height, stateDigest, snapshot, snapshotHash: stateDigest });
        this.kick();
      })()
        .catch((err: unknown) => this.fail(err instanceof Error ? err : new Error(`checkpoint at ${batch.height}: ${String(err)}`)))
        .finally(() => {
          this.storesInFlight--;
          this.wake?.();
        });
    }
  }

  /** Stores `snapshot` as the state at `height` (durable when this resolves); returns its digest. */
  private async storeSnapshot(core: ProtocolCore<M>, height: bigint, snapshot: Uint8Array): Promise<Uint8Array> {
    // The snapshot is stored in a transaction of its own, and after a restart the core trusts it
    // as applied state: what the state rested on — votes whose writes were deferred — must be
    // durable first, or a crash could keep the snapshot and lose them. A sync resolves once all
    // that was staged before it is durable; with applying in the background, another sync (of a
    // later Ready, or the deferral timer's) may have taken the deferred writes and still be running,
    // so a sync is awaited here even when none are left to this one.
    if (this.deferred) await this.syncDeferred(core);
    else await this.o.storage.sync();
    const stateDigest = await sliced(ReplicatedState.digestSteps(snapshot));
    const w = await this.o.storage.snapshots.begin({ height, digest: stateDigest });
    try {
      // In pieces: a store copies what it is given (the LMDB one seals each piece with a checksum),
      // and a copy of a whole large state in one block (90 MB at 760k KV keys) was a fresh
      // allocation that size at every checkpoint. One piece at a time, the event loop let run
      // between slices: the LMDB store commits each piece on this thread (1-5 ms), and pieces
      // issued together — or awaited only as microtasks — held the loop for the whole state
      // (~120 commits at a million keys). A store that throws at once fails this like one that
      // rejects, and no piece is left in flight when `abort` runs.
      const clock = slices();
      for (let at = 0; at < snapshot.length; at += SNAPSHOT_PIECE_BYTES) {
        if (this.fatal) throw this.fatal; // halted: stop writing (the piece already begun is aborted)
        await w.write(snapshot.subarray(at, at + SNAPSHOT_PIECE_BYTES));
        const p = clock.pause();
        if (p) await p;
      }
      await w.commit();
    } catch (err) {
      await w.abort().catch(() => undefined);
      throw err;
    }
    return stateDigest;
  }
}
