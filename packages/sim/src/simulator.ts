import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import type {
  ClientRequest,
  CoreContext,
  EquivocationEvidence,
  Input,
  NodeId,
  PersistRequest,
  ProtocolCore,
  Ready,
  TimerId,
} from '@phalanx/interface';
import { ConfigError, DecodeError, silentLogger } from '@phalanx/interface';
import { createValidatorSet, faultTolerance, verifyEvidence } from '@phalanx/quorum';
import { toHex, utf8 } from '@phalanx/codec';
import { createRng } from './rng.js';
import type { Xoshiro128 } from './rng.js';
import { EventQueue } from './heap.js';
import { DurableStore } from './durable.js';
import { KvApp, isDuplicateResult, stateDigest } from './kv-app.js';
import { Checkers, requestKey } from './checkers.js';
import { createStubKeys } from './stub-crypto.js';
import { createRequestAuthenticator, signRequests } from '@phalanx/client-auth';

/** The chain id of every simulated cluster. */
const SIM_CHAIN = 'phalanx-sim';
import type { KeyProvider } from './stub-crypto.js';
import { ADVERSARIES } from './adversaries.js';
import { buildScenario, describeTarget } from './scenario.js';
import type { PartitionKind, Scenario, Target } from './scenario.js';
import type { Adversary, AdversaryContext, ClusterInfo, HookContext, SimAdapter, Violation } from './types.js';

export interface SimOptions {
  readonly seed: bigint | number;
  /** Fault profile name (see `PROFILES`). Default "none". */
  readonly faults?: string;
  /** Replicas. Default 4. */
  readonly n?: number;
  /** Scenario fields that override the profile's. */
  readonly scenario?: Partial<Scenario>;
  /** Signers and verifier. Default: stub crypto. */
  readonly keys?: KeyProvider;
  /**
   * Clients sign their requests and cores check them (`SimulationCluster.clientAuth`), so an
   * invented request is a `validity` violation even with Byzantine replicas. Default true, for
   * adapters that claim the `clientAuth` capability; false (or an adapter without it) runs
   * unauthenticated clients, where invented requests are only counted (`forgedRequests`).
   */
  readonly clientAuth?: boolean;
  /** Record a readable trace and its SHA-256. Costs time; runners turn it on to replay a failure. */
  readonly trace?: boolean;
  /** Trace lines kept (the last ones). Default 200. */
  readonly traceLimit?: number;
  /** Keep running after the first violation. Default false. */
  readonly continueAfterViolation?: boolean;
  /** Stop with a robustness violation after this many events (a core spinning on zero-delay timers). Default 5,000,000. */
  readonly maxEvents?: number;
  /** Name used in the replay line. Default: the definition's name. */
  readonly protocolName?: string;
  /** How the replay line selects the protocol. Default `--protocol <protocolName>`. */
  readonly replaySelector?: string;
}

export interface SimStats {
  readonly events: number;
  /** Frames handed to a replica's core (after decoding). */
  readonly deliveries: number;
  readonly framesSent: number;
  readonly framesDropped: number;
  readonly decodeRejected: number;
  readonly commits: number;
  readonly requestsSubmitted: number;
  readonly requestsCompleted: number;
  readonly crashes: number;
  readonly restarts: number;
  readonly virtualMs: number;
  readonly misbehaviourEvents: number;
  /** Equivocation evidence events emitted by cores. */
  readonly evidence: number;
  /** `view-change` events emitted by cores (all replicas). */
  readonly viewChanges: number;
  /** Snapshots installed through `Ready.restore` (state transfer). */
  readonly restores: number;
  /** Committed requests no client submitted (possible only with Byzantine replicas; refused by the app). */
  readonly forgedRequests: number;
  /** Client requests given up because a forged request took their (client, seq). */
  readonly preempted: number;
}

export interface SimResult {
  readonly ok: boolean;
  readonly seed: bigint;
  readonly faults: string;
  readonly n: number;
  readonly violations: readonly Violation[];
  readonly stats: SimStats;
  /** SHA-256 of the full trace ('' when tracing was off). */
  readonly traceHash: string;
  /** The last `traceLimit` trace lines (empty when tracing was off). */
  readonly trace: readonly string[];
  readonly scenario: Scenario;
  /** Committed height per replica at the end. */
  readonly heights: Readonly<Record<NodeId, bigint>>;
  /** The one command that replays this run. */
  readonly replay: string;
}

export function formatSeed(seed: bigint | number): string {
  return `0x${BigInt.asUintN(64, BigInt(seed)).toString(16)}`;
}

export function replayCommand(protocol: string, seed: bigint | number, faults: string, n: number, selector = `--protocol ${protocol}`): string {
  return `pnpm sim ${selector} --seed ${formatSeed(seed)} --faults ${faults}${n !== 4 ? ` --n ${n}` : ''}`;
}

type Ev<M> = { t: number; seq: number } & (
  | { k: 'msg'; to: number; from: NodeId; bytes: Uint8Array }
  | { k: 'req'; to: number; req: ClientRequest }
  | { k: 'reply'; client: number; from: NodeId; reqSeq: bigint; result: string }
  | { k: 'timer'; inst: Instance<M>; id: TimerId; gen: number }
  | { k: 'disk'; inst: Instance<M>; ready: Ready<M> }
  | { k: 'deferred-sync'; inst: Instance<M> }
  | { k: 'applied'; inst: Instance<M>; input: Input<M> }
  | { k: 'crash'; target: Target; restartAfterMs: number | undefined; clean: boolean }
  | { k: 'restart'; node: number }
  | { k: 'client-send'; client: number }
  | { k: 'client-timeout'; client: number; reqSeq: bigint; attempt: number }
  | { k: 'partition' }
  | { k: 'gst' }
  | { k: 'end' }
  | { k: 'converged?' }
);

class Instance<M> {
  alive = true;
  readonly app: KvApp;
  applied = 0n;
  readonly timers = new Map<TimerId, number>();
  diskBusyUntil = 0;
  /** Readies waiting for the disk; later ones queue behind them (FIFO). */
  pendingDisk = 0;
  /**
   * `deferrable` persists handed on without waiting: durable only once a later persist's write
   * or their own deferred sync completes; a crash before that loses them (this instance dies).
   */
  deferred: PersistRequest[] = [];
  deferredSyncScheduled = false;
  core!: ProtocolCore<M>;
  constructor(
    readonly replica: Replica<M>,
    readonly twin: number,
    readonly durable: DurableStore,
    authentic: (r: ClientRequest) => boolean,
  ) {
    this.app = new KvApp(authentic);
  }
}

class Replica<M> {
  up = true;
  /** Stopping cleanly (`CrashPlan.clean`): inputs are dropped, the writes in flight finish first. */
  stopping: { restartAfterMs: number | undefined } | undefined;
  instances: Instance<M>[] = [];
  adversary: Adversary<M> | undefined;
  readonly durables: DurableStore[] = [];
  constructor(
    readonly id: NodeId,
    readonly idx: number,
    readonly drift: number,
  ) {}
}

class Client {
  seq = 0n;
  done = 0;
  target: number;
  outstanding: { req: ClientRequest; replies: Map<NodeId, string>; sentAt: number } | undefined;
  constructor(
    readonly id: NodeId,
    target: number,
  ) {
    this.target = target;
  }
}

/**
 * One deterministic simulated run: n replicas of `adapter`'s protocol, clients, a faulty network,
 * crashes and Byzantine replicas, all driven by one seeded generator in virtual time.
 */
export class Simulation<M, C> {
  readonly rng: Xoshiro128;
  readonly scenario: Scenario;
  readonly cluster: ClusterInfo;
  readonly checkers: Checkers;
  private readonly queue = new EventQueue<Ev<M>>();
  private seqNo = 0;
  now = 0;
  private readonly replicas: Replica<M>[] = [];
  private readonly clients: Client[] = [];
  private readonly keys: KeyProvider;
  /** Clients sign their requests and cores check them (`SimOptions.clientAuth`). */
  private readonly signedClients: boolean;
  private blocked = new Set<number>();
  private gstPassed: boolean;
  private finished = false;
  private endScheduled = false;
  private readonly hookContexts = new Map<NodeId, HookContext>();
  private readonly memo = new Map<string, unknown>();
  private readonly tracing: boolean;
  private readonly traceLimit: number;
  private readonly traceRing: string[] = [];
  private traceHead = 0;
  private readonly traceHasher: Hash | undefined;
  private readonly replyQuorum: number;
  private readonly stats = {
    events: 0,
    deliveries: 0,
    framesSent: 0,
    framesDropped: 0,
    decodeRejected: 0,
    commits: 0,
    requestsSubmitted: 0,
    requestsCompleted: 0,
    crashes: 0,
    restarts: 0,
    virtualMs: 0,
    misbehaviourEvents: 0,
    evidence: 0,
    viewChanges: 0,
    restores: 0,
    forgedRequests: 0,
    preempted: 0,
  };
  private readonly seed: bigint;
  private readonly faults: string;
  private readonly protocolName: string;
  private readonly replaySelector: string | undefined;
  private readonly continueAfterViolation: boolean;
  private readonly maxEvents: number;
  private readonly pendingFaults = { count: 0 };
  private readonly loadUntil: number;

  constructor(
    readonly adapter: SimAdapter<M, C>,
    options: SimOptions,
  ) {
    this.seed = BigInt.asUintN(64, BigInt(options.seed));
    this.faults = options.faults ?? 'none';
    this.protocolName = options.protocolName ?? adapter.definition.name;
    this.replaySelector = options.replaySelector;
    this.continueAfterViolation = options.continueAfterViolation ?? false;
    this.maxEvents = options.maxEvents ?? 5_000_000;
    this.rng = createRng(this.seed);
    this.tracing = options.trace ?? false;
    this.traceLimit = options.traceLimit ?? 200;
    this.traceHasher = this.tracing ? createHash('sha256') : undefined;
    const n = options.scenario?.n ?? options.n ?? 4;
    const f = faultTolerance(n);
    const bound = options.scenario?.livenessBoundMs ?? adapter.timing?.livenessBoundMs;
    const overrides: Partial<Scenario> = { ...options.scenario, ...(bound !== undefined ? { livenessBoundMs: bound } : {}) };
    this.scenario = buildScenario(
      this.faults,
      { n, f, rng: this.rng, capabilities: adapter.capabilities ?? {}, hooks: adapter.hooks as never },
      overrides,
    );
    if (adapter.timing?.clientTimeoutMs !== undefined && options.scenario?.clients === undefined) {
      this.scenario = { ...this.scenario, clients: { ...this.scenario.clients, timeoutMs: adapter.timing.clientTimeoutMs } };
    }
    this.gstPassed = this.scenario.gstMs <= 0;
    this.loadUntil =
      this.scenario.clients.count === 0
        ? 0
        : Math.max(this.scenario.gstMs, ...this.scenario.crashes.map((c) => c.atMs + (c.restartAfterMs ?? 0))) + 100;
    const counted = this.scenario.crashes.filter((c) => !(this.scenario.restartsAreCorrect && c.restartAfterMs !== undefined));
    const targets: Target[] = [...this.scenario.byzantine.map((b) => b.target), ...counted.map((c) => c.target)];
    // 'leader' is resolved when each fault strikes (a Byzantine one at the start, a crash when it
    // fires), and the leader may have changed between: each such plan counts as a fault of its own.
    const faulty = new Set(targets.filter((t) => t !== 'leader')).size + targets.filter((t) => t === 'leader').length;
    if (faulty > f && !this.scenario.allowExcessFaults) {
      throw new ConfigError('faults', `scenario makes ${faulty} replicas faulty but n=${n} tolerates f=${f} (set allowExcessFaults to mean it)`);
    }
    this.keys = options.keys ?? createStubKeys(Number(this.seed & 0xffffn));
    const ids = Array.from({ length: n }, (_, i) => `r${i}`);
    const validators = createValidatorSet(ids.map((id) => ({ id, publicKey: this.keys.signer(id).publicKey, power: 1 })));
    this.signedClients = (options.clientAuth ?? true) && adapter.capabilities?.clientAuth === true;
    const clientCount = this.scenario.clients.count;
    const clientKey = (id: NodeId): Uint8Array | undefined => {
      const m = /^c(\d+)$/.exec(id);
      return m && Number(m[1]) < clientCount ? this.keys.signer(id).publicKey : undefined;
    };
    const clientAuth = this.signedClients ? createRequestAuthenticator({ chainId: SIM_CHAIN, keyOf: clientKey, verifier: this.keys.verifier }) : undefined;
    this.cluster = { n, f, ids, validators, chainId: SIM_CHAIN, ...(clientAuth ? { clientAuth } : {}) };
    this.replyQuorum = f + 1;
    for (let i = 0; i < n; i++) {
      const drift = (this.rng.nextFloat() * 2 - 1) * this.scenario.clockDrift;
      this.replicas.push(new Replica<M>(ids[i]!, i, drift));
    }
    // Byzantine replicas are chosen before anything runs; 'leader' is whoever the cores name first.
    for (const r of this.replicas) this.start(r, 1, false);
    const byzantine = new Set<number>();
    for (const plan of this.scenario.byzantine) {
      const idx = this.resolve(plan.target);
      if (byzantine.has(idx)) continue;
      byzantine.add(idx);
      const make = typeof plan.adversary === 'string' ? ADVERSARIES[plan.adversary] : plan.adversary;
      const adv = make<M>();
      const r = this.replicas[idx]!;
      r.adversary = adv;
      if ((adv.instances ?? 1) > 1) {
        for (const inst of r.instances) inst.alive = false;
        r.instances = [];
        this.start(r, adv.instances ?? 1, false);
      }
      this.trace(`byzantine ${r.id} ${adv.name}`);
    }
    this.checkers = new Checkers(ids.filter((_, i) => !byzantine.has(i)), {
      allowDuplicateCommits: adapter.capabilities?.duplicateCommits ?? false,
      // Unsigned clients: with a Byzantine replica present no protocol can keep invented requests
      // out; they are counted, and the application refuses them. Signed: a validity violation.
      toleratedForgedRequests: byzantine.size > 0 && !this.signedClients,
    });
    for (const r of this.replicas) for (const inst of r.instances) this.flush(inst);
    for (const c of this.scenario.crashes) {
      this.pendingFaults.count++;
      this.schedule(c.atMs, { k: 'crash', target: c.target, restartAfterMs: c.restartAfterMs, clean: c.clean === true });
    }
    if (this.scenario.network.partitions && !this.gstPassed) this.schedule(0, { k: 'partition' });
    if (!this.gstPassed) this.schedule(this.scenario.gstMs, { k: 'gst' });
    for (let i = 0; i < this.scenario.clients.count; i++) {
      const c = new Client(`c${i}`, this.rng.nextInt(n));
      this.clients.push(c);
      this.schedule(1 + this.rng.nextInt(20), { k: 'client-send', client: i });
    }
    this.schedule(this.scenario.gstMs + this.scenario.livenessBoundMs, { k: 'end' });
  }

  // ---------------------------------------------------------------- plumbing

  private schedule(delay: number, e: Record<string, unknown> & { k: string }): void {
    const timed = e as unknown as { t: number; seq: number };
    timed.t = this.now + Math.max(0, delay);
    timed.seq = this.seqNo++;
    this.queue.push(e as unknown as Ev<M>);
  }

  private trace(line: string): void {
    if (!this.tracing) return;
    const full = `${this.now.toFixed(3).padStart(10)} ${line}`;
    this.traceHasher!.update(full).update('\n');
    if (this.traceRing.length < this.traceLimit) this.traceRing.push(full);
    else {
      this.traceRing[this.traceHead] = full;
      this.traceHead = (this.traceHead + 1) % this.traceLimit;
    }
  }

  private describe(msg: M): string {
    const d = this.adapter.describe;
    if (d) return d(msg);
    try {
      const s = JSON.stringify(msg, (_k, v: unknown) =>
        typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? `0x${toHex(v.subarray(0, 4))}…` : v,
      );
      return s.length > 120 ? `${s.slice(0, 117)}…` : s;
    } catch {
      return '<msg>';
    }
  }

  private violation(checker: Violation['checker'], message: string): void {
    this.checkers.report(checker, this.now, message);
  }

  private resolve(target: Target): number {
    if (target !== 'leader') return target;
    const votes = new Map<NodeId, number>();
    for (const r of this.replicas) {
      if (!r.up || r.adversary) continue;
      const inst = r.instances[0];
      if (!inst) continue;
      let leader: NodeId | undefined;
      try {
        leader = inst.core.status().leader;
      } catch (err) {
        this.violation('robustness', `${r.id}: status() threw ${(err as Error).message}`);
      }
      if (leader !== undefined) votes.set(leader, (votes.get(leader) ?? 0) + 1);
    }
    let best: NodeId | undefined;
    let bestCount = 0;
    for (const [id, count] of votes) if (count > bestCount) [best, bestCount] = [id, count];
    const idx = best === undefined ? 0 : this.cluster.ids.indexOf(best);
    return idx < 0 ? 0 : idx;
  }

  private hookContext(r: Replica<M>): HookContext {
    let h = this.hookContexts.get(r.id);
    if (!h) {
      h = { rng: this.rng, signer: this.keys.signer(r.id), self: r.id, chainId: this.cluster.chainId, memo: this.memo };
      this.hookContexts.set(r.id, h);
    }
    return h;
  }

  private advContext(r: Replica<M>, twin: number): AdversaryContext<M> {
    return {
      self: r.id,
      peers: this.cluster.ids.filter((id) => id !== r.id),
      rng: this.rng,
      now: this.now,
      codec: this.adapter.definition.codec,
      signer: this.keys.signer(r.id),
      hooks: this.adapter.hooks,
      hookContext: this.hookContext(r),
      instance: twin,
    };
  }

  // ---------------------------------------------------------------- replicas

  private start(r: Replica<M>, instances: number, flushNow = true): void {
    r.up = true;
    r.instances = [];
    for (let twin = 0; twin < instances; twin++) {
      let durable = r.durables[twin];
      if (!durable) {
        durable = new DurableStore();
        r.durables[twin] = durable;
      }
      const inst = new Instance<M>(r, twin, durable, (q) => this.checkers.isAuthentic(q));
      const recovered = durable.writes > 0 || durable.snapshot ? durable.recover() : undefined;
      if (durable.snapshot) {
        try {
          inst.app.restore(durable.snapshot.data);
          inst.applied = durable.snapshot.height;
        } catch (err) {
          this.violation('robustness', `${r.id}: the application could not restore its own snapshot: ${(err as Error).message}`);
        }
      }
      const ctx: CoreContext = {
        self: r.id,
        validators: this.cluster.validators,
        signer: this.keys.signer(r.id),
        verifier: this.keys.verifier,
        rng: this.rng,
        logger: silentLogger,
      };
      try {
        inst.core = this.adapter.definition.create(ctx, this.adapter.config(this.cluster, r.id), recovered);
      } catch (err) {
        if (!recovered) throw err;
        this.violation('durability', `${r.id} cannot restart from its durable state: ${(err as Error).message}`);
        r.up = false;
        return;
      }
      r.instances.push(inst);
    }
    if (flushNow) for (const inst of r.instances) this.flush(inst);
  }

  /**
   * Ends a clean stop once no write of the replica is in flight: the deferred writes become
   * durable, the core is stepped `stop`, the persist of its answer is made durable (its sends and
   * commits are dropped, as the runtime drops them), and the replica goes down.
   */
  private finishStop(r: Replica<M>): void {
    const stop = r.stopping;
    const inst = r.instances[0];
    if (!stop || !inst || inst.pendingDisk > 0) return;
    r.stopping = undefined;
    this.pendingFaults.count--;
    this.syncDeferred(inst);
    try {
      inst.core.step({ type: 'stop' });
      // One Ready, as the runtime takes (`Input` 'stop'): a second one's write would be lost there.
      const p = inst.core.hasReady() ? inst.core.ready().persist : undefined;
      if (p) inst.durable.apply(p);
    } catch (err) {
      this.violation('robustness', `${r.id}: stop threw ${(err as Error).message}`);
    }
    this.trace(`stopped ${r.id} cleanly`);
    this.goDown(r, stop.restartAfterMs);
  }

  private goDown(r: Replica<M>, restartAfterMs: number | undefined): void {
    this.crash(r);
    if (restartAfterMs !== undefined) {
      this.pendingFaults.count++;
      this.schedule(restartAfterMs, { k: 'restart', node: r.idx });
    }
  }

  private crash(r: Replica<M>): void {
    if (!r.up) return;
    if (r.stopping) {
      // A crash while a clean stop waits for its writes: the stop never completes.
      r.stopping = undefined;
      this.pendingFaults.count--;
    }
    r.up = false;
    for (const inst of r.instances) inst.alive = false;
    r.instances = [];
    this.stats.crashes++;
  }

  private step(inst: Instance<M>, input: Input<M>): void {
    if (!inst.alive || inst.replica.stopping) return;
    try {
      inst.core.step(input);
    } catch (err) {
      this.violation('robustness', `${inst.replica.id}: step(${input.type}) threw ${(err as Error).name}: ${(err as Error).message}`);
      return;
    }
    this.flush(inst);
  }

  /** Drains a core's outputs, honouring the Ready ordering rule and the disk's latency. */
  private flush(inst: Instance<M>): void {
    for (let guard = 0; inst.alive; guard++) {
      if (guard === 10_000) {
        this.violation('robustness', `${inst.replica.id}: hasReady() stayed true through 10000 ready() calls in a row`);
        return;
      }
      let ready: Ready<M>;
      try {
        if (!inst.core.hasReady()) return;
        ready = inst.core.ready();
      } catch (err) {
        this.violation('robustness', `${inst.replica.id}: ready() threw ${(err as Error).message}`);
        return;
      }
      for (const e of ready.events) {
        if (e.type === 'misbehaviour') this.stats.misbehaviourEvents++;
        else if (e.type === 'view-change') this.stats.viewChanges++;
        if (e.type === 'evidence') this.checkEvidence(inst.replica, e.evidence);
        if (this.tracing) this.trace(`event ${inst.replica.id} ${e.type}${e.type === 'misbehaviour' ? ` ${e.peer} ${e.kind}` : e.type === 'view-change' ? ` ${e.from}→${e.to}` : ''}`);
      }
      // A Ready waits behind every earlier write: its messages may promise what those persisted.
      const mustWait = inst.pendingDisk > 0;
      if ((ready.persist !== undefined && ready.persist.deferrable !== true) || mustWait) {
        const { minMs, maxMs } = this.scenario.disk;
        const latency = ready.persist !== undefined && maxMs > 0 ? minMs + this.rng.nextFloat() * (maxMs - minMs) : 0;
        const doneAt = Math.max(this.now, inst.diskBusyUntil) + latency;
        inst.diskBusyUntil = doneAt;
        if (mustWait || doneAt > this.now) {
          inst.pendingDisk++;
          this.schedule(doneAt - this.now, { k: 'disk', inst, ready });
          continue;
        }
      }
      this.complete(inst, ready);
    }
  }

  /**
   * Evidence an honest replica emits must verify (else it accuses on bad grounds), and must not
   * name an honest voter (else an honest replica equivocated).
   */
  private checkEvidence(reporter: Replica<M>, ev: EquivocationEvidence): void {
    this.stats.evidence++;
    if (!this.checkers.isHonest(reporter.id)) return;
    try {
      verifyEvidence(ev, this.cluster.validators, this.keys.verifier, this.cluster.chainId);
    } catch (err) {
      this.violation('robustness', `${reporter.id} emitted evidence against ${ev.voter} that does not verify: ${(err as Error).message}`);
      return;
    }
    if (this.checkers.isHonest(ev.voter)) {
      this.violation('agreement', `${reporter.id} holds valid equivocation evidence against honest ${ev.voter} (${ev.first.kind} h=${ev.first.height} r=${ev.first.round})`);
    }
  }

  /** Makes an instance's deferred writes durable; returns the highest persist id they carried. */
  private syncDeferred(inst: Instance<M>): bigint | undefined {
    if (inst.deferred.length === 0) return undefined;
    for (const d of inst.deferred) inst.durable.apply(d);
    const upTo = inst.deferred[inst.deferred.length - 1]!.id;
    inst.deferred = [];
    if (this.tracing) this.trace(`persist ${inst.replica.id} #${upTo} (deferred)`);
    return upTo;
  }

  private complete(inst: Instance<M>, ready: Ready<M>): void {
    const r = inst.replica;
    const later: Input<M>[] = [];
    // 1. persist: durable now — unless deferrable: staged, durable with the next write that is
    // not (a sync covers everything staged before it) or after a disk latency of its own.
    if (ready.persist?.deferrable === true) {
      inst.deferred.push(ready.persist);
      if (!inst.deferredSyncScheduled) {
        inst.deferredSyncScheduled = true;
        const { minMs, maxMs } = this.scenario.disk;
        this.schedule(minMs + this.rng.nextFloat() * (maxMs - minMs), { k: 'deferred-sync', inst });
      }
      if (this.tracing) this.trace(`defer ${r.id} #${ready.persist.id} +${ready.persist.append.length}`);
    } else if (ready.persist) {
      this.syncDeferred(inst);
      inst.durable.apply(ready.persist);
      later.push({ type: 'persisted', upTo: ready.persist.id });
      if (this.tracing) this.trace(`persist ${r.id} #${ready.persist.id} +${ready.persist.append.length}${ready.persist.hardState ? ' hs' : ''}`);
    }
    // 2. send.
    for (const out of ready.send) this.send(inst, out.to, out.msg);
    // 3. restore, then commit in order.
    if (ready.restore) {
      try {
        inst.app.restore(ready.restore.snapshot);
        inst.applied = ready.restore.height;
        inst.durable.snapshot = { height: ready.restore.height, data: ready.restore.snapshot.slice() };
        if (this.checkers.isHonest(r.id)) this.checkers.onRestore(r.id, ready.restore.height);
        this.stats.restores++;
        this.trace(`restore ${r.id} h=${ready.restore.height}`);
      } catch (err) {
        this.violation('state', `${r.id} was handed a snapshot the application cannot read: ${(err as Error).message}`);
      }
    }
    const honest = this.checkers.isHonest(r.id);
    for (const batch of ready.commit) {
      if (batch.height <= inst.applied) {
        // Already in the application state (a core replaying its log after a restart). Like the
        // runtime, skip applying it, but it must still be the batch committed there before.
        if (honest) this.checkers.onRecommit(r.id, batch, this.now);
        continue;
      }
      if (honest) this.checkers.onCommit(r.id, batch, inst.applied + 1n, this.now);
      const results = inst.app.apply(batch.requests, { height: batch.height });
      inst.applied = batch.height;
      this.stats.commits++;
      if (this.tracing) this.trace(`commit ${r.id}${inst.twin ? `'` : ''} h=${batch.height} [${batch.requests.map((q) => `${q.client}#${q.seq}`).join(',')}]`);
      if (honest) {
        batch.requests.forEach((q, i) => {
          const res = results[i]!;
          if (this.checkers.preempted.has(requestKey(q.client, q.seq))) this.preempt(q.client, q.seq);
          if (isDuplicateResult(res)) return;
          const result = utf8.decode(res);
          this.sendReply(r, q.client, q.seq, result);
        });
      }
      if (batch.reportState) {
        const snapshot = inst.app.snapshot();
        const digest = stateDigest(snapshot);
        // As the runtime does: deferred writes become durable before the snapshot is stored.
        this.syncDeferred(inst);
        inst.durable.snapshot = { height: batch.height, data: snapshot };
        if (honest) this.checkers.onDigest(r.id, batch.height, digest, this.now);
        // As the runtime does: the digest is SHA-256 of the snapshot, handed over as its hash.
        const applied: Input<M> = { type: 'applied', height: batch.height, stateDigest: digest, snapshot, snapshotHash: digest };
        const delay = this.scenario.appliedDelay;
        // The rng is drawn only when the scenario asks for it: other scenarios replay as before.
        if (delay) this.schedule(delay.minMs + this.rng.nextInt(delay.maxMs - delay.minMs + 1), { k: 'applied', inst, input: applied });
        else later.push(applied);
      }
    }
    // 4. timers.
    for (const op of ready.timers) {
      if (op.op === 'set') {
        if (!Number.isFinite(op.ms) || op.ms < 0) {
          this.violation('robustness', `${r.id} set timer "${op.id}" to ${op.ms} ms`);
          continue;
        }
        const gen = this.seqNo;
        inst.timers.set(op.id, gen);
        this.schedule(Math.max(0, op.ms) * (1 + r.drift), { k: 'timer', inst, id: op.id, gen });
      } else inst.timers.delete(op.id);
    }
    for (const input of later) this.step(inst, input);
  }

  // ---------------------------------------------------------------- network

  private send(inst: Instance<M>, to: NodeId | 'all', msg: M): void {
    const r = inst.replica;
    let bytes: Uint8Array;
    try {
      bytes = this.adapter.definition.codec.encode(msg);
    } catch (err) {
      this.violation('robustness', `${r.id}: codec.encode threw ${(err as Error).message}`);
      return;
    }
    if (this.tracing) this.trace(`send ${r.id}${inst.twin ? `'` : ''} → ${to} ${this.describe(msg)}`);
    const targets: number[] = [];
    if (to === 'all') {
      for (let i = 0; i < this.replicas.length; i++) if (i !== r.idx) targets.push(i);
    } else {
      const i = this.cluster.ids.indexOf(to);
      if (i < 0) {
        this.violation('robustness', `${r.id} sent to unknown node "${to}"`);
        return;
      }
      targets.push(i);
    }
    const adv = r.adversary;
    if (!adv) {
      for (const i of targets) this.transmit(r.idx, i, bytes, 0);
      return;
    }
    const ctx = this.advContext(r, inst.twin);
    for (const i of targets) {
      for (const frame of adv.outbound(msg, this.cluster.ids[i]!, bytes, ctx)) {
        const j = this.cluster.ids.indexOf(frame.to);
        if (j >= 0) this.transmit(r.idx, j, frame.bytes, frame.delayMs ?? 0);
      }
    }
  }

  private latency(): number {
    if (this.gstPassed) {
      const { minMs, maxMs } = this.scenario.network.latencyAfterGst;
      return minMs + this.rng.nextFloat() * (maxMs - minMs);
    }
    const { minMs, maxMs, tailMs } = this.scenario.network.latency;
    const base = minMs + this.rng.nextFloat() * (maxMs - minMs);
    return tailMs ? base - Math.log(1 - this.rng.nextFloat()) * tailMs : base;
  }

  /** Puts one frame on the simulated wire between replicas `from` and `to`. */
  private transmit(from: number, to: number, bytes: Uint8Array, extraMs: number): void {
    this.stats.framesSent++;
    const id = this.cluster.ids[from]!;
    if (from === to) {
      this.schedule(extraMs, { k: 'msg', to, from: id, bytes });
      return;
    }
    const net = this.scenario.network;
    if (!this.gstPassed) {
      if (this.blocked.has(from * this.replicas.length + to) || (net.loss > 0 && this.rng.chance(net.loss))) {
        this.stats.framesDropped++;
        return;
      }
    }
    let delay = this.latency() + extraMs;
    if (!this.gstPassed && net.reorder > 0 && this.rng.chance(net.reorder)) delay += this.rng.nextFloat() * 4 * net.latency.maxMs;
    this.schedule(delay, { k: 'msg', to, from: id, bytes });
    if (net.duplicate > 0 && this.rng.chance(net.duplicate)) this.schedule(this.latency() + extraMs, { k: 'msg', to, from: id, bytes });
  }

  /** Client traffic (requests and replies): latency and loss, but partitions only cut replicas. */
  private net(_from: number, _to: number, make: () => Record<string, unknown> & { k: string }): void {
    if (!this.gstPassed && this.scenario.network.loss > 0 && this.rng.chance(this.scenario.network.loss)) return;
    this.schedule(this.latency(), make());
  }

  private sendReply(r: Replica<M>, client: NodeId, seq: bigint, result: string): void {
    const ci = Number(client.slice(1));
    if (client[0] === 'c' && this.clients[ci]?.id === client) this.net(r.idx, -1, () => ({ k: 'reply', client: ci, from: r.id, reqSeq: seq, result }));
  }

  private deliver(e: { to: number; from: NodeId; bytes: Uint8Array }): void {
    const r = this.replicas[e.to]!;
    if (!r.up) return;
    const codec = this.adapter.definition.codec;
    for (const inst of r.instances.slice()) {
      if (r.adversary?.inbound && !r.adversary.inbound(e.from, e.bytes, this.advContext(r, inst.twin))) continue;
      let msg: M;
      try {
        msg = codec.decode(e.bytes);
      } catch (err) {
        if (err instanceof DecodeError) {
          this.stats.decodeRejected++;
          if (this.tracing) this.trace(`reject ${r.id} ← ${e.from} ${e.bytes.length}B: ${err.message.slice(0, 80)}`);
        } else {
          this.violation('robustness', `${r.id}: codec.decode threw ${(err as Error).name} (not DecodeError) on ${e.bytes.length} bytes from ${e.from}: ${(err as Error).message}`);
        }
        continue;
      }
      this.stats.deliveries++;
      if (this.tracing) this.trace(`recv ${r.id}${inst.twin ? `'` : ''} ← ${e.from} ${this.describe(msg)}`);
      this.step(inst, { type: 'message', from: e.from, msg });
    }
  }

  private partition(): void {
    const n = this.replicas.length;
    const kinds = this.scenario.network.partitions?.kinds ?? [];
    this.blocked = new Set();
    const cut = (a: number, b: number): void => void this.blocked.add(a * n + b);
    if (kinds.length > 0 && !this.rng.chance(0.2)) {
      const kind: PartitionKind = this.rng.pick(kinds);
      const order = this.rng.shuffle([...Array(n).keys()]);
      if (kind === 'split') {
        const size = 1 + this.rng.nextInt(n - 1);
        const side = new Set(order.slice(0, size));
        for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) if (side.has(a) !== side.has(b)) cut(a, b);
      } else if (kind === 'isolate') {
        const x = order[0]!;
        for (let b = 0; b < n; b++) {
          if (b === x) continue;
          cut(x, b);
          cut(b, x);
        }
      } else {
        // One replica's outgoing (or incoming) links to some peers are down, the reverse works.
        const x = order[0]!;
        const outgoing = this.rng.chance(0.5);
        for (const b of order.slice(1, 1 + 1 + this.rng.nextInt(n - 1))) {
          if (outgoing) cut(x, b);
          else cut(b, x);
        }
      }
      this.trace(`partition ${kind} blocked=${this.blocked.size}`);
    } else this.trace('partition none');
    const period = this.scenario.network.partitions?.periodMs ?? 0;
    if (period > 0 && this.now + period < this.scenario.gstMs) this.schedule(period, { k: 'partition' });
  }

  // ---------------------------------------------------------------- clients

  private submit(ci: number): void {
    const c = this.clients[ci]!;
    if (c.outstanding || !this.wantsMore(c)) return;
    c.seq++;
    const payload = utf8.encode(`mix k${this.rng.nextInt(8)} ${c.id}.${c.seq}`);
    const req: ClientRequest = this.signedClients
      ? signRequests(this.keys.signer(c.id), c.id, [{ seq: c.seq, payload }], { chainId: SIM_CHAIN })[0]!
      : { client: c.id, seq: c.seq, payload };
    c.outstanding = { req, replies: new Map(), sentAt: this.now };
    this.checkers.onSubmit(req);
    this.stats.requestsSubmitted++;
    this.trace(`client ${c.id} submit #${c.seq} → r${c.target}`);
    this.net(-1, c.target, () => ({ k: 'req', to: c.target, req }));
    this.schedule(this.scenario.clients.timeoutMs, { k: 'client-timeout', client: ci, reqSeq: c.seq, attempt: 1 });
  }

  private clientTimeout(ci: number, seq: bigint, attempt: number): void {
    const c = this.clients[ci]!;
    if (!c.outstanding || c.outstanding.req.seq !== seq) return;
    const req = c.outstanding.req;
    c.target = (c.target + 1) % this.replicas.length;
    // Retry to the next replica; from the third attempt on, to every replica.
    const to = attempt >= 2 ? [...this.replicas.keys()] : [c.target];
    this.trace(`client ${c.id} retry #${seq} attempt ${attempt + 1} → ${to.map((i) => `r${i}`).join(',')}`);
    for (const i of to) this.net(-1, i, () => ({ k: 'req', to: i, req }));
    this.schedule(this.scenario.clients.timeoutMs, { k: 'client-timeout', client: ci, reqSeq: seq, attempt: attempt + 1 });
  }

  private reply(ci: number, from: NodeId, seq: bigint, result: string): void {
    const c = this.clients[ci]!;
    const o = c.outstanding;
    if (!o || o.req.seq !== seq) return;
    o.replies.set(from, result);
    let matching = 0;
    for (const v of o.replies.values()) if (v === result) matching++;
    if (matching < this.replyQuorum) return;
    c.outstanding = undefined;
    c.done++;
    this.stats.requestsCompleted++;
    this.trace(`client ${c.id} done #${seq} = ${result}`);
    if (this.wantsMore(c)) this.schedule(this.rng.nextFloat() * this.scenario.clients.thinkMs, { k: 'client-send', client: ci });
    else this.maybeEnd();
  }

  /**
   * A Byzantine replica committed a forged payload under this client's (client, seq): without
   * client signatures in the contract no protocol can prevent it, so the client moves on.
   */
  private preempt(client: NodeId, seq: bigint): void {
    const ci = Number(client.slice(1));
    const c = this.clients[ci];
    if (c?.id !== client || c.outstanding?.req.seq !== seq) return;
    c.outstanding = undefined;
    c.done++;
    this.stats.preempted++;
    this.trace(`client ${c.id} #${seq} pre-empted by a forged request`);
    if (this.wantsMore(c)) this.schedule(0, { k: 'client-send', client: ci });
    else this.maybeEnd();
  }

  /**
   * Once GST passed, no fault is pending and every client is done, the run waits until every live
   * honest replica has executed every request (polling), then settles a little longer and ends.
   * Runs that never converge end at GST + livenessBoundMs, where the liveness checker reports them.
   */
  /**
   * Clients keep the load on until every planned fault has happened and GST has passed, so
   * crashes, partitions and view changes happen under load; and each makes at least `requests`.
   */
  private wantsMore(c: Client): boolean {
    return c.done < this.scenario.clients.requests || this.now < this.loadUntil;
  }

  private maybeEnd(): void {
    if (this.endScheduled || this.pendingFaults.count > 0 || !this.gstPassed) return;
    if (this.clients.some((c) => c.outstanding || this.wantsMore(c))) return;
    this.endScheduled = true;
    this.schedule(0, { k: 'converged?' });
  }

  private converged(): boolean {
    if (!this.scenario.checkLiveness) return true;
    const live = this.replicas.filter((r) => r.up && !r.adversary);
    const judged = this.adapter.capabilities?.catchUp === false ? live.slice(0, 1) : live;
    return judged.every((r) => this.checkers.missing(r.id, 1).length === 0);
  }

  // ---------------------------------------------------------------- main loop

  private handle(e: Ev<M>): void {
    switch (e.k) {
      case 'msg':
        this.deliver(e);
        break;
      case 'req': {
        const r = this.replicas[e.to]!;
        // A replica stopping cleanly takes no more requests and answers no retries: the runtime
        // drops client frames once `stop()` is called.
        if (!r.up || r.stopping) break;
        const which = r.adversary?.routeRequest ? r.adversary.routeRequest(this.advContext(r, 0)) : null;
        for (const inst of r.instances.slice()) {
          if (which && !which.includes(inst.twin)) continue;
          // A retry of an executed request is answered from the replicated client table, as the
          // runtime does (it survives restarts and state transfer with the rest of the state).
          const cached = inst.app.lastReply(e.req.client);
          if (!r.adversary && cached && cached.seq === e.req.seq) this.sendReply(r, e.req.client, cached.seq, cached.result);
          this.step(inst, { type: 'request', request: e.req });
        }
        break;
      }
      case 'reply':
        this.reply(e.client, e.from, e.reqSeq, e.result);
        break;
      case 'timer':
        if (!e.inst.alive || e.inst.timers.get(e.id) !== e.gen) break;
        e.inst.timers.delete(e.id);
        if (this.tracing) this.trace(`timeout ${e.inst.replica.id} ${e.id}`);
        this.step(e.inst, { type: 'timeout', timer: e.id });
        break;
      case 'disk':
        if (!e.inst.alive) break;
        e.inst.pendingDisk--;
        this.complete(e.inst, e.ready);
        this.flush(e.inst);
        if (e.inst.replica.stopping) {
          this.finishStop(e.inst.replica);
          this.maybeEnd();
        }
        break;
      case 'applied':
        if (!e.inst.alive) break;
        if (this.tracing) this.trace(`applied ${e.inst.replica.id}`);
        this.step(e.inst, e.input);
        break;
      case 'deferred-sync': {
        e.inst.deferredSyncScheduled = false;
        if (!e.inst.alive) break;
        const upTo = this.syncDeferred(e.inst);
        if (upTo !== undefined) this.step(e.inst, { type: 'persisted', upTo });
        break;
      }
      case 'crash': {
        this.pendingFaults.count--;
        const r = this.replicas[this.resolve(e.target)]!;
        // A clean stop needs one honest instance and no stop already waiting; otherwise it crashes.
        const clean = r.up && e.clean && r.instances.length === 1 && !r.stopping;
        this.trace(`${clean ? 'stop' : 'crash'} ${r.id} (${describeTarget(e.target, this.cluster.ids)})${e.restartAfterMs !== undefined ? ` restart in ${e.restartAfterMs}ms` : ''}`);
        if (clean) {
          // Down once its writes in flight are done (see finishStop); a crash meanwhile wins.
          r.stopping = { restartAfterMs: e.restartAfterMs };
          this.pendingFaults.count++;
          this.finishStop(r);
        } else if (r.up) {
          this.goDown(r, e.restartAfterMs);
        }
        this.maybeEnd();
        break;
      }
      case 'restart': {
        this.pendingFaults.count--;
        const r = this.replicas[e.node]!;
        if (r.up) break;
        this.stats.restarts++;
        this.checkers.onRestart(r.id);
        this.trace(`restart ${r.id} log=${r.durables[0]?.size ?? 0} snapshot=${r.durables[0]?.snapshot?.height ?? '-'}`);
        this.start(r, r.adversary?.instances ?? 1);
        this.maybeEnd();
        break;
      }
      case 'client-send':
        this.submit(e.client);
        break;
      case 'client-timeout':
        this.clientTimeout(e.client, e.reqSeq, e.attempt);
        break;
      case 'partition':
        if (!this.gstPassed) this.partition();
        break;
      case 'gst':
        this.gstPassed = true;
        this.blocked = new Set();
        this.trace('GST: network heals');
        this.maybeEnd();
        break;
      case 'converged?':
        if (this.converged()) this.schedule(this.scenario.settleMs, { k: 'end' });
        else this.schedule(50, { k: 'converged?' });
        break;
      case 'end':
        this.finished = true;
        break;
    }
  }

  run(): SimResult {
    while (!this.finished) {
      const e = this.queue.pop();
      if (!e) break;
      this.now = e.t;
      if (++this.stats.events > this.maxEvents) {
        this.violation('robustness', `event budget of ${this.maxEvents} exhausted at t=${this.now.toFixed(3)}ms (a core re-arming zero-delay timers or flooding?)`);
        break;
      }
      this.handle(e);
      if (!this.continueAfterViolation && this.checkers.violations.length > 0) break;
    }
    this.stats.virtualMs = this.now;
    this.stats.forgedRequests = this.checkers.forgedRequests;
    const failedEarly = this.checkers.violations.length > 0;
    if (!failedEarly || this.continueAfterViolation) this.finalChecks();
    const heights: Record<NodeId, bigint> = {};
    for (const r of this.replicas) heights[r.id] = r.instances[0]?.applied ?? 0n;
    for (const v of this.checkers.violations) this.trace(`VIOLATION ${v.checker}: ${v.message}`);
    const trace = this.traceRing.slice(this.traceHead).concat(this.traceRing.slice(0, this.traceHead));
    return {
      ok: this.checkers.violations.length === 0,
      seed: this.seed,
      faults: this.faults,
      n: this.cluster.n,
      violations: this.checkers.violations.slice(),
      stats: { ...this.stats },
      traceHash: this.traceHasher ? this.traceHasher.digest('hex') : '',
      trace,
      scenario: this.scenario,
      heights,
      replay: replayCommand(this.protocolName, this.seed, this.faults, this.cluster.n, this.replaySelector),
    };
  }

  private finalChecks(): void {
    this.checkers.checkTotalOrder(this.now);
    const live = this.replicas.filter((r) => r.up && !r.adversary);
    this.checkers.checkFinalStates(
      live.map((r) => {
        const inst = r.instances[0]!;
        return { node: r.id, height: inst.applied, digest: toHex(stateDigest(inst.app.snapshot())) };
      }),
      this.now,
    );
    if (!this.scenario.checkLiveness) return;
    const unfinished = this.clients.filter((c) => c.outstanding || c.done < this.scenario.clients.requests);
    if (unfinished.length > 0) {
      this.violation(
        'liveness',
        `${unfinished.length} client(s) unfinished ${this.scenario.livenessBoundMs}ms after GST: ${unfinished.map((c) => `${c.id} ${c.done} done${c.outstanding ? `, #${c.outstanding.req.seq} pending since ${c.outstanding.sentAt.toFixed(0)}ms` : ''}`).join('; ')}`,
      );
    }
    const judged = this.adapter.capabilities?.catchUp === false ? live.slice(0, 1) : live;
    this.checkers.checkLiveness(judged.map((r) => r.id), this.now, `within ${this.scenario.livenessBoundMs}ms of GST`);
  }
}

/** Runs one seed and returns what happened (never throws for protocol failures: they are violations). */
export function simulate<M, C>(adapter: SimAdapter<M, C>, options: SimOptions): SimResult {
  return new Simulation(adapter, options).run();
}
