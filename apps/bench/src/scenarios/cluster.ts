/**
 * In-process cluster harness: n protocol cores in one process, driven straight through the
 * `ProtocolDefinition` contract (@phalanx/interface core.ts) with no runtime in between.
 *
 *  - Network: every `Ready.send` is encoded with the protocol's own codec (once per send, as a
 *    transport would) and decoded at each receiver, so message and byte counts are the real wire
 *    figures. Delivery is FIFO and instantaneous: this measures CPU cost (signatures, encoding,
 *    protocol logic), not network latency.
 *  - Storage: `persist` is acknowledged at once (memory), respecting the Ready ordering rule
 *    persist → send → restore/commit → timers.
 *  - Time: timers run on a virtual clock that advances only when the cluster is idle, so a slow
 *    benchmark machine never fires a view-change timeout by itself; a protocol that waits on a
 *    (batching) timer still makes progress as soon as nothing else is left to do.
 *  - Application: each replica applies commits to its own `ReferenceKv`; a request counts as
 *    committed when `replyQuorum` replicas have applied it (f + 1 for BFT: what a client waits for).
 *  - Safety: every replica's batch at each height must match (same request ids), else the run
 *    throws `ClusterSafetyError` — a benchmark of a cluster that forks is worthless.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { latencyRecorder, kvPutOfSize, ReferenceKv, type LatencySummary } from '@phalanx/bench-kit';
import { ConfigError } from '@phalanx/interface';
import type { StateMachine } from '@phalanx/interface';
import type {
  ClientRequest,
  CommittedBatch,
  CoreContext,
  Input,
  NodeId,
  ProtocolCore,
  ProtocolDefinition,
  Ready,
  ValidatorSet,
  Verifier,
  Signer,
} from '@phalanx/interface';
import { seededRng } from './rng.js';

export class ClusterSafetyError extends Error {
  override readonly name = 'ClusterSafetyError';
}

export interface ClusterOptions {
  // The harness is generic over the message type; `unknown` keeps the call sites simple.
  readonly protocol: ProtocolDefinition<unknown, unknown>;
  /** Config handed to `create` for every replica (or built per replica). */
  readonly config: unknown | ((self: NodeId, index: number) => unknown);
  readonly ids: readonly NodeId[];
  readonly validators: ValidatorSet;
  readonly signers: readonly Signer[];
  readonly verifier: Verifier;
  /** Stop once this many requests are committed. */
  readonly commands: number;
  /** Give up (and report what was committed) after this much wall time. */
  readonly maxWallMs: number;
  /** Outstanding requests (closed loop: one per client). */
  readonly concurrency: number;
  readonly commandBytes: number;
  /** The application each replica runs. Default: bench-kit's `ReferenceKv`. */
  readonly createStateMachine?: () => StateMachine;
  /** Builds the payload of the `i`-th command. Default: `kvPutOfSize(i, commandBytes)`. */
  readonly makePayload?: (i: number) => Uint8Array;
  /** Replicas that must apply a request before it counts (f + 1 for BFT, 1 for CFT). */
  readonly replyQuorum: number;
  /** `leader`: send each request to the replica `status().leader` names (all when unknown). */
  readonly submitTo?: 'leader' | 'all';
  /**
   * Commands committed before the measurement window opens (start-up: the first proposals, key
   * caches, JIT). Throughput, latency and message counts cover only the window. Default
   * min(concurrency, commands / 2); when the window never opens the whole run is reported.
   */
  readonly warmupCommands?: number;
  readonly seed?: number;
}

export interface ClusterResult {
  readonly committed: number;
  readonly wallMs: number;
  readonly opsPerSec: number;
  readonly latency?: LatencySummary;
  readonly messages: number;
  readonly bytes: number;
  readonly msgsPerCommand: number;
  readonly bytesPerCommand: number;
  readonly heights: readonly bigint[];
  readonly viewChanges: number;
  readonly misbehaviour: readonly string[];
  readonly decodeErrors: number;
  /** Why the run ended before `commands` were committed, if it did. */
  readonly stopped?: 'wall-time' | 'stalled';
  readonly virtualMs: number;
  /** True when the figures cover a steady-state window after `warmupCommands`; false: the whole run. */
  readonly steady: boolean;
}

interface Delivery {
  readonly to: number;
  readonly from: NodeId;
  readonly bytes: Uint8Array;
}

interface Pending {
  readonly started: number;
  /** Submitted after the measurement window opened. */
  readonly measured: boolean;
  readonly request: ClientRequest;
  replies: number;
  readonly client: number;
}

/** Native SHA-256, as the runtime injects it. */
const SHA256 = Object.freeze({
  algorithm: 'sha256' as const,
  digest: (data: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(data).digest()),
});

const reqKey = (client: NodeId, seq: bigint): string => `${client}/${seq}`;

function mergeRecorders(a: ReturnType<typeof latencyRecorder>, b: ReturnType<typeof latencyRecorder>): ReturnType<typeof latencyRecorder> {
  const m = latencyRecorder(a.count + b.count + 1);
  for (const v of a.values()) m.record(v);
  for (const v of b.values()) m.record(v);
  return m;
}

export function runCluster(opts: ClusterOptions): ClusterResult {
  const n = opts.ids.length;
  if (n === 0 || opts.signers.length !== n) throw new ConfigError('signers', 'need one signer per replica id');
  const index = new Map(opts.ids.map((id, i) => [id, i]));
  const cores: ProtocolCore<unknown>[] = opts.ids.map((self, i) => {
    const ctx: CoreContext = {
      self,
      validators: opts.validators,
      signer: opts.signers[i]!,
      verifier: opts.verifier,
      rng: seededRng((opts.seed ?? 1) * 1000 + i),
      hasher: SHA256,
    };
    const config = typeof opts.config === 'function' ? (opts.config as (s: NodeId, i: number) => unknown)(self, i) : opts.config;
    return opts.protocol.create(ctx, config);
  });
  const createSm = opts.createStateMachine ?? ((): StateMachine => new ReferenceKv());
  const makePayload = opts.makePayload ?? ((i: number): Uint8Array => kvPutOfSize(i, opts.commandBytes));
  const kvs = opts.ids.map(() => createSm());
  const applied = opts.ids.map(() => 0n);
  const timers = opts.ids.map(() => new Map<string, number>());
  const batchIds = new Map<bigint, string>();
  const queue: Delivery[] = [];
  let head = 0;
  const local: Array<{ node: number; input: Input<unknown> }> = [];
  const latency = latencyRecorder(opts.commands + 16);
  const warmLatency = latencyRecorder(64);
  const warmup = Math.max(0, Math.floor(opts.warmupCommands ?? Math.min(opts.concurrency, opts.commands / 2)));
  let windowStart: { t: number; committed: number; messages: number; bytes: number } | undefined;
  const openWindow = (): void => {
    windowStart = { t: performance.now(), committed, messages, bytes };
  };
  const pending = new Map<string, Pending>();
  const clientSeq = new Array<bigint>(opts.concurrency).fill(0n);
  const misbehaviour: string[] = [];
  let now = 0;
  let committed = 0;
  let messages = 0;
  let bytes = 0;
  let viewChanges = 0;
  let decodeErrors = 0;
  let nextKey = 0;

  const onCommit = (node: number, batch: CommittedBatch): void => {
    if (batch.height !== applied[node]! + 1n) {
      throw new ClusterSafetyError(`${opts.ids[node]} committed height ${batch.height} after ${applied[node]}`);
    }
    applied[node] = batch.height;
    const ids = batch.requests.map((r) => reqKey(r.client, r.seq)).join(',');
    const seen = batchIds.get(batch.height);
    if (seen === undefined) batchIds.set(batch.height, ids);
    else if (seen !== ids) throw new ClusterSafetyError(`replicas disagree at height ${batch.height}: [${seen}] vs [${ids}] at ${opts.ids[node]}`);
    kvs[node]!.apply(batch.requests, { height: batch.height });
    for (const r of batch.requests) {
      const k = reqKey(r.client, r.seq);
      const p = pending.get(k);
      if (!p) continue;
      if (++p.replies >= opts.replyQuorum) {
        pending.delete(k);
        if (p.measured) latency.record(performance.now() - p.started);
        else warmLatency.record(performance.now() - p.started);
        committed++;
        if (windowStart === undefined && committed >= warmup) openWindow();
      }
    }
    if (batch.reportState) {
      const snapshot = kvs[node]!.snapshot();
      const digest = new Uint8Array(createHash('sha256').update(snapshot).digest());
      // As the runtime does: the digest is SHA-256 of the snapshot, handed over as its hash.
      local.push({ node, input: { type: 'applied', height: batch.height, stateDigest: digest, snapshot, snapshotHash: digest } });
    }
  };

  const handleReady = (node: number, r: Ready<unknown>): void => {
    // 1. persist: memory storage, durable at once; acknowledged after this Ready is handled.
    // 2. send
    for (const out of r.send) {
      const frame = opts.protocol.codec.encode(out.msg);
      if (out.to === 'all') {
        for (let j = 0; j < n; j++) {
          if (j === node) continue;
          queue.push({ to: j, from: opts.ids[node]!, bytes: frame });
          messages++;
          bytes += frame.length;
        }
      } else {
        const j = index.get(out.to);
        if (j === undefined || j === node) continue;
        queue.push({ to: j, from: opts.ids[node]!, bytes: frame });
        messages++;
        bytes += frame.length;
      }
    }
    // 3. restore, then commits in order
    if (r.restore) {
      kvs[node]!.restore(r.restore.snapshot);
      applied[node] = r.restore.height;
    }
    for (const b of r.commit) onCommit(node, b);
    // 4. timers
    for (const t of r.timers) {
      if (t.op === 'set') timers[node]!.set(t.id, now + t.ms);
      else timers[node]!.delete(t.id);
    }
    for (const e of r.events) {
      if (e.type === 'view-change') viewChanges++;
      else if (e.type === 'misbehaviour' && misbehaviour.length < 20) misbehaviour.push(`${opts.ids[node]}: ${e.peer} ${e.kind} ${e.detail}`);
    }
    if (r.persist) local.push({ node, input: { type: 'persisted', upTo: r.persist.id } });
  };

  const step = (node: number, input: Input<unknown>): void => {
    cores[node]!.step(input);
    drain(node);
  };
  const drain = (node: number): void => {
    while (cores[node]!.hasReady()) handleReady(node, cores[node]!.ready());
    while (local.length > 0) {
      const l = local.shift()!;
      cores[l.node]!.step(l.input);
      while (cores[l.node]!.hasReady()) handleReady(l.node, cores[l.node]!.ready());
    }
  };

  const submit = (client: number, all: boolean): void => {
    const seq = ++clientSeq[client]!;
    const request: ClientRequest = { client: `client-${client}`, seq, payload: makePayload(nextKey++ % 100_000) };
    pending.set(reqKey(request.client, seq), { started: performance.now(), measured: windowStart !== undefined, request, replies: 0, client });
    deliverRequest(request, all);
  };
  const deliverRequest = (request: ClientRequest, all: boolean): void => {
    const leader = opts.submitTo === 'all' || all ? undefined : cores[0]!.status().leader;
    const target = leader === undefined ? undefined : index.get(leader);
    if (target === undefined) for (let j = 0; j < n; j++) step(j, { type: 'request', request });
    else step(target, { type: 'request', request });
  };

  for (let i = 0; i < n; i++) drain(i); // cores may start timers or announce a leader at creation
  const t0 = performance.now();
  if (warmup === 0) openWindow();
  let stopped: ClusterResult['stopped'];
  let idleTimerFires = 0;
  let resentAll = false;
  const busyClients = new Set<number>();
  for (;;) {
    if (committed >= opts.commands) break;
    if (performance.now() - t0 > opts.maxWallMs) {
      stopped = 'wall-time';
      break;
    }
    // Closed loop: each client keeps exactly one request outstanding.
    if (pending.size < opts.concurrency) {
      busyClients.clear();
      for (const p of pending.values()) busyClients.add(p.client);
      for (let c = 0; c < opts.concurrency && committed + pending.size < opts.commands + opts.concurrency; c++) {
        if (!busyClients.has(c)) submit(c, false);
      }
    }
    if (head < queue.length) {
      const before = committed;
      for (let k = 0; k < 256 && head < queue.length; k++) {
        const d = queue[head++]!;
        let msg: unknown;
        try {
          msg = opts.protocol.codec.decode(d.bytes);
        } catch {
          decodeErrors++;
          continue;
        }
        step(d.to, { type: 'message', from: d.from, msg });
      }
      if (head > 65_536) {
        queue.splice(0, head);
        head = 0;
      }
      if (committed > before) {
        idleTimerFires = 0;
        resentAll = false;
      }
      continue;
    }
    // Idle: advance virtual time to the earliest timer and fire everything due.
    let next = Infinity;
    for (const t of timers) for (const at of t.values()) if (at < next) next = at;
    if (next === Infinity || idleTimerFires > 10_000) {
      if (!resentAll && pending.size > 0) {
        resentAll = true;
        idleTimerFires = 0;
        for (const p of pending.values()) deliverRequest(p.request, true);
        continue;
      }
      stopped = 'stalled';
      break;
    }
    now = Math.max(now, next);
    idleTimerFires++;
    for (let i = 0; i < n; i++) {
      for (const [id, at] of [...timers[i]!]) {
        if (at <= now && timers[i]!.get(id) === at) {
          timers[i]!.delete(id);
          step(i, { type: 'timeout', timer: id });
        }
      }
    }
  }
  const tEnd = performance.now();
  const wallMs = tEnd - t0;
  // Steady state only when the window saw some commands measured end to end.
  const steady = windowStart !== undefined && latency.count > 0 && committed > windowStart.committed;
  const w = steady ? windowStart! : { t: t0, committed: 0, messages: 0, bytes: 0 };
  const n0 = committed - w.committed;
  const lat = steady ? latency : mergeRecorders(warmLatency, latency);
  return {
    committed,
    wallMs,
    opsPerSec: tEnd > w.t ? (n0 / (tEnd - w.t)) * 1000 : 0,
    ...(lat.count > 0 ? { latency: lat.summary() } : {}),
    messages: messages - w.messages,
    bytes: bytes - w.bytes,
    msgsPerCommand: n0 > 0 ? (messages - w.messages) / n0 : 0,
    bytesPerCommand: n0 > 0 ? (bytes - w.bytes) / n0 : 0,
    steady,
    heights: applied,
    viewChanges,
    misbehaviour,
    decodeErrors,
    ...(stopped ? { stopped } : {}),
    virtualMs: now,
  };
}
