/**
 * `Client` submits commands to the replicas over the client protocol and resolves when enough
 * replicas sent the same result: f+1 for a BFT protocol (at least one of them is honest), 1 for a
 * crash-fault one. Requests are pipelined (many in flight, each named by its `seq`), retried to
 * every replica until they resolve, and given up after a timeout.
 */
import { bytesEqual } from '@phalanx/codec';
import { ConfigError, PhalanxError } from '@phalanx/interface';
import type { NodeId, Signer } from '@phalanx/interface';
import { MAX_GROUP_SIZE, signGroup } from '@phalanx/client-auth';
import { sha256Native } from '@phalanx/crypto';
import { decodeClientFrame, encodeClientFrame, framesOf, rejectedSeqs } from './wire.js';
import type { RejectCode, ReplyFrame, WireRequest } from './wire.js';

/** A client's side of the client protocol (`MemoryHub.client`, `Libp2pClientEndpoint`). */
export interface ClientEndpoint {
  readonly self: NodeId;
  start(): Promise<void>;
  stop(): Promise<void>;
  send(replica: NodeId, frame: Uint8Array): void;
  onFrame(handler: (replica: NodeId, frame: Uint8Array) => void): void;
}

export interface ClientOptions {
  readonly endpoint: ClientEndpoint;
  readonly replicas: readonly NodeId[];
  /** Matching replies that make a result final: f+1 for BFT protocols, 1 for crash-fault ones. */
  readonly quorum: number;
  /**
   * The least time an unanswered request waits before it is resent to every replica (doubling
   * with each resend, up to 8x). Default 1000 ms; at least 1. The wait adapts upwards to the
   * commit latency the client observes (`retryTimeoutMs`), so a slow system is not sent more, but
   * never past a quarter of `timeoutMs`. In a stall only the oldest request due is resent per wait;
   * the others are held back until a sign they were lost (a later request, sent after them, decided
   * first; the replica their first attempt went to alone no longer named the leader) or a quarter of
   * `timeoutMs` after their first send. The price: a leader that lets the probes through and drops
   * the rest slows each request to that quarter without being replaced.
   */
  readonly retryMs?: number;
  /** Give up on a request after this long. Default 30 s; more than 0, `Infinity` for never. */
  readonly timeoutMs?: number;
  /**
   * Sequence numbers in flight at once: a request is sent only while its seq is less than
   * `maxInFlight` above the oldest unanswered one; later ones wait, in order. Default 1024.
   * Keep it at most the replicas' session window (the exactly-once table, e.g. `KvStore`'s
   * `sessionWindow`): a protocol may commit a pipelined client's requests out of order (HotStuff's
   * rotating leaders do), and a request committed when the client's newest executed seq is a full
   * window above it is refused, not run. Bounding the span, not just the count, rules that out.
   */
  readonly maxInFlight?: number;
  /**
   * First sequence number. Must be above every seq this client id used before (a restarted client
   * persists or derives it); replicas answer an old seq from their reply cache, never re-execute it.
   */
  readonly firstSeq?: bigint;
  /**
   * Where first attempts go until replies name a leader (`followLeader`): every replica (default;
   * fastest when any may be faulty), or only the replica named here — e.g. the current leader,
   * which saves the backups from relaying every request. Retries always go to every replica that
   * has not answered.
   */
  readonly firstTarget?: NodeId;
  /**
   * Send first attempts to the leader named by `quorum` matching replies (replicas put their view
   * of the leader in each reply), instead of to every replica, so backups need not relay (and
   * sign, and verify) every request. On by default; `false` keeps `firstTarget`. Safety never
   * depends on the hint — unanswered requests go to every replica on retry.
   */
  readonly followLeader?: boolean;
  /**
   * Signs every request (`@phalanx/client-auth`: one signature per group of up to 128 requests of a
   * frame) for the network `chainId`. Replicas that authenticate clients refuse unsigned requests
   * with `unauthenticated`; the key must be the one the replicas list for `endpoint.self`.
   */
  readonly signing?: { readonly signer: Signer; readonly chainId: string };
}

export interface ClientResult {
  readonly seq: bigint;
  readonly result: Uint8Array;
  readonly height: bigint;
  /** The commit proof one of the matching replies carried, if the protocol gives one. */
  readonly proof?: Uint8Array;
  /** The replicas whose replies matched. */
  readonly replicas: readonly NodeId[];
}

/**
 * The request's `timeoutMs` passed. `seq` is undefined when it was never sent (it waited all that
 * time for room in the window); otherwise replicas may still have it, and it may yet commit.
 */
export class ClientTimeoutError extends PhalanxError {
  readonly seq: bigint | undefined;
  constructor(seq: bigint | undefined, ms: number, detail: string) {
    super('CLIENT_TIMEOUT', `request ${seq ?? '(never sent)'} not committed within ${ms} ms (${detail})`);
    this.seq = seq;
  }
}

/**
 * The client is not running: `submit` before `start`, or a request still in flight or waiting for
 * room when `stop` was called (it may still commit; the client no longer waits for it).
 */
export class ClientNotRunningError extends PhalanxError {
  constructor(message: 'client not started' | 'client stopped') {
    super('CLIENT_NOT_RUNNING', message);
  }
}

/**
 * `quorum` replicas say the request was executed but its result is no longer in their reply
 * cache (the client fell too far behind): it committed exactly once, and its result is lost.
 */
export class ClientResultExpiredError extends PhalanxError {
  readonly seq: bigint;
  constructor(seq: bigint, replicas: readonly NodeId[]) {
    super('CLIENT_RESULT_EXPIRED', `request ${seq} was executed, but its result is no longer cached (${replicas.join(', ')})`);
    this.seq = seq;
  }
}

/**
 * `quorum` replicas refused the request for good (`too-large`, `malformed`, `unauthenticated`): at least one of them
 * is honest, so no retry will get it ordered. Raised at once instead of at the deadline.
 */
export class ClientRejectedError extends PhalanxError {
  readonly seq: bigint;
  readonly reason: RejectCode;
  constructor(seq: bigint, reason: RejectCode, replicas: readonly NodeId[]) {
    super('CLIENT_REJECTED', `request ${seq} refused as ${reason} by ${replicas.join(', ')}`);
    this.seq = seq;
    this.reason = reason;
  }
}

/** Refusals that no retry can change (the others — `expired`, `unavailable` — may pass). */
const PERMANENT_REJECTS: ReadonlySet<RejectCode> = new Set(['too-large', 'malformed', 'unauthenticated']);

/** The longest first wait before a resend, however slow commits have been (RFC 6298 §2.5: ≥ 60 s). */
export const MAX_RETRY_MS = 60_000;
/** RFC 6298's G: the least margin over the smoothed latency. */
const CLOCK_GRANULARITY_MS = 10;

/** One replica's answer to a pending request: the result, and the frame it came in (height, proof, leader). */
interface Reply {
  readonly from: NodeId;
  readonly result: Uint8Array;
  readonly frame: ReplyFrame;
}

/**
 * A request in flight. It doubles as the `WireRequest` queued for sending (it has `seq` and
 * `payload`), and its retry and give-up times are plain numbers checked by the client's one timer:
 * under load thousands are in flight, and two timers, two maps and a wire object per request made
 * the garbage collector a third of a load generator's CPU.
 */
interface Pending {
  readonly seq: bigint;
  readonly payload: Uint8Array;
  /** At most one per replica: a replica's later reply replaces its earlier one. */
  readonly replies: Reply[];
  rejects?: Map<NodeId, RejectCode>;
  /**
   * `performance.now()` times: when first sent, when last sent (first or resent), when to resend to
   * everyone who has not answered, and when to give up.
   */
  sentAt: number;
  lastSentAt: number;
  retryAt: number;
  /** Where its first attempt went alone (`firstTarget` then), if it went to one replica only. */
  sentTo?: NodeId;
  readonly deadline: number;
  retries: number;
  resolve(r: ClientResult): void;
  reject(e: Error): void;
}

export class Client {
  readonly id: NodeId;
  private readonly o: ClientOptions;
  private nextSeq: bigint;
  /** `maxInFlight` as a bigint, and a lower bound of the oldest unanswered seq (see `hasRoom`). */
  private readonly window: bigint;
  private oldest: bigint;
  private readonly pending = new Map<bigint, Pending>();
  /** Submitters waiting for room in the window, FIFO (`waitHead` avoids O(n) shifts on long queues). */
  private waiting: Array<() => void> = [];
  private waitHead = 0;
  private running = false;
  private firstTarget: NodeId | undefined;
  /** Requests to send per replica, flushed as one frame each once per event-loop turn. */
  private readonly outbox = new Map<NodeId, WireRequest[]>();
  private flushScheduled = false;
  /** The one timer for every retry and deadline, armed for the earliest of them (`timerAt`). */
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  /**
   * Smoothed latency from first send to a decided result, and its mean deviation (RFC 6298 §2),
   * sampled only from requests never resent (Karn's rule: an answer to a resent request does not
   * say which attempt it answers). `undefined` until the first sample.
   */
  private srtt: number | undefined;
  private rttvar = 0;
  /**
   * RFC 6298 §5.5: the wait doubles when it expires, and stays doubled until a sample comes in.
   * Without it a system slower than the wait would never yield a sample (every request resent).
   * Doubled at most once per wait: in a stall, thousands of pipelined requests fall due one after
   * another, and doubling at each of the timer's firings took the wait to its ceiling at once.
   */
  private backedOff = 1;
  private backedOffAt = -Infinity;
  private resendCount = 0;
  /** When a request was last resent as the one probe of a wait (see `tick`). */
  private lastProbeAt = -Infinity;
  /** The highest seq decided so far, and when it was first sent: a request it overtook was likely lost. */
  private topDecided = { seq: -1n, sentAt: -Infinity };

  /** Throws `ConfigError` (path: the option's name) for a `quorum`, `maxInFlight`, `retryMs` or `timeoutMs` out of its range. */
  constructor(opts: ClientOptions) {
    if (!Number.isInteger(opts.quorum) || opts.quorum < 1 || opts.quorum > opts.replicas.length) {
      throw new ConfigError('quorum', `must be an integer from 1 to ${opts.replicas.length} (the number of replicas), got ${String(opts.quorum)}`);
    }
    const max = opts.maxInFlight ?? 1024;
    if (!Number.isSafeInteger(max) || max < 1) throw new ConfigError('maxInFlight', `must be a positive safe integer, got ${String(max)}`);
    // A retry interval under 1 ms (or NaN) resends in a tight loop; a NaN deadline never passes.
    const retry = opts.retryMs ?? 1_000;
    if (typeof retry !== 'number' || !Number.isFinite(retry) || retry < 1) throw new ConfigError('retryMs', `must be a finite number of ms, at least 1, got ${String(retry)}`);
    const timeout = opts.timeoutMs ?? 30_000;
    if (typeof timeout !== 'number' || Number.isNaN(timeout) || timeout <= 0) throw new ConfigError('timeoutMs', `must be more than 0 ms (Infinity: never), got ${String(timeout)}`);
    this.o = opts;
    this.id = opts.endpoint.self;
    this.nextSeq = opts.firstSeq ?? 0n;
    this.oldest = this.nextSeq;
    this.window = BigInt(max);
    this.setFirstTarget(opts.firstTarget);
    opts.endpoint.onFrame((from, frame) => this.onFrame(from, frame));
  }

  async start(): Promise<void> {
    if (this.running) return;
    await this.o.endpoint.start();
    this.running = true;
  }

  /** Rejects everything in flight and closes the endpoint. */
  async stop(): Promise<void> {
    this.running = false;
    for (const p of [...this.pending.values()]) this.finish(p, new ClientNotRunningError('client stopped'));
    // Waiting submitters are launched by `admit` as slots free up; launched now, they reject.
    this.admit();
    this.disarm();
    await this.o.endpoint.stop();
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Requests resent since the start (each resend of each request counts once). */
  get resends(): number {
    return this.resendCount;
  }

  /**
   * How long a request now waits for its answers before it is resent: RFC 6298's retransmission
   * timeout, SRTT + max(G, 4·RTTVAR) over the latencies of requests answered at their first
   * attempt, doubled after an expiry until the next sample, never below `retryMs` nor above
   * `waitCeiling` (a quarter of `timeoutMs`, at most `MAX_RETRY_MS`). Under load, commit latency
   * can approach a fixed `retryMs`, and resending to every replica because the system is merely
   * slow adds load to it. The price: a first attempt lost to a failed leader waits longer.
   */
  get retryTimeoutMs(): number {
    const floor = this.o.retryMs ?? 1_000;
    // RFC 6298 §2.3: SRTT + max(G, 4·RTTVAR). Without the clock-granularity term, a steady latency
    // decays RTTVAR towards 0 and answers a millisecond late are resent.
    const estimate = this.srtt === undefined ? floor : Math.max(floor, this.srtt + Math.max(CLOCK_GRANULARITY_MS, 4 * this.rttvar));
    return Math.min(this.waitCeiling(), estimate * this.backedOff);
  }

  /**
   * The longest first wait: a quarter of `timeoutMs` (at most `MAX_RETRY_MS`), so a request goes to
   * every replica well before its deadline however slow answers have been; never below `retryMs`.
   * Without it, first attempts that go to the leader alone (`followLeader`) and a wait grown past
   * the deadline would leave a failed or censoring leader as the only replica ever asked.
   */
  private waitCeiling(): number {
    const floor = this.o.retryMs ?? 1_000;
    return Math.max(floor, Math.min(MAX_RETRY_MS, (this.o.timeoutMs ?? 30_000) / 4));
  }

  /** One latency sample (RFC 6298 §2.2–2.3, α = 1/8, β = 1/4). */
  private sampleLatency(ms: number): void {
    this.backedOff = 1;
    if (this.srtt === undefined) {
      this.srtt = ms;
      this.rttvar = ms / 2;
      return;
    }
    this.rttvar += (Math.abs(this.srtt - ms) - this.rttvar) / 4;
    this.srtt += (ms - this.srtt) / 8;
  }

  /** The seq the next `submit` will use. */
  get sequence(): bigint {
    return this.nextSeq;
  }

  /**
   * Orders `payload`. `timeoutMs` counts from this call, time spent waiting for room in the window
   * included: a caller that gave up at its own deadline is not followed by a late first send.
   */
  async submit(payload: Uint8Array): Promise<ClientResult> {
    if (!this.running) throw new ClientNotRunningError('client not started');
    const timeoutMs = this.o.timeoutMs ?? 30_000;
    const deadline = performance.now() + timeoutMs;
    return new Promise<ClientResult>((resolve, reject) => {
      const launch = (): void => {
        if (!this.running) {
          reject(new ClientNotRunningError('client stopped'));
          return;
        }
        if (performance.now() >= deadline) {
          reject(new ClientTimeoutError(undefined, timeoutMs, 'never sent: an older request held the window'));
          return;
        }
        const seq = this.nextSeq++;
        const p: Pending = {
          seq,
          payload,
          replies: [],
          sentAt: performance.now(),
          lastSentAt: -Infinity,
          retryAt: Infinity,
          deadline,
          retries: 0,
          resolve,
          reject,
        };
        this.pending.set(seq, p);
        this.transmit(p);
      };
      // Behind earlier waiters even if there is room: sequence numbers go out in submit order.
      if (this.waitHead === this.waiting.length && this.hasRoom()) launch();
      else this.waiting.push(launch);
    });
  }

  /** Whether the next seq may go out now: fewer than `maxInFlight` above the oldest unanswered seq. */
  private hasRoom(): boolean {
    if (!this.running) return true; // launches only to reject
    // Seqs are handed out consecutively, so the oldest unanswered one is found by walking up from
    // the last one seen: each seq is passed once (iterating the Map from its front instead would
    // step over the holes answered requests leave there, O(window) per call).
    while (this.oldest < this.nextSeq && !this.pending.has(this.oldest)) this.oldest++;
    return this.nextSeq - this.oldest < this.window;
  }

  /** Launches waiting submitters, in order, while the window has room. */
  private admit(): void {
    while (this.waitHead < this.waiting.length && this.hasRoom()) {
      const launch = this.waiting[this.waitHead++]!;
      if (this.waitHead > 1024 && this.waitHead * 2 > this.waiting.length) {
        this.waiting = this.waiting.slice(this.waitHead);
        this.waitHead = 0;
      }
      launch();
    }
  }

  /** Changes where first attempts go (e.g. after learning of a new leader); undefined = everyone. */
  setFirstTarget(replica: NodeId | undefined): void {
    this.firstTarget = replica !== undefined && this.o.replicas.includes(replica) ? replica : undefined;
  }

  private transmit(p: Pending): void {
    if (p.retries === 0 && this.firstTarget !== undefined) this.enqueue(this.firstTarget, p);
    else for (const r of this.o.replicas) if (!p.replies.some((x) => x.from === r)) this.enqueue(r, p);
    // A request's own resends wait 2x, 4x, then 8x the wait, within 8x retryMs or the ceiling,
    // whichever is longer: the client-wide back-off and this one must not compound without bound.
    const floor = this.o.retryMs ?? 1_000;
    const wait = Math.min(Math.max(this.waitCeiling(), 8 * floor), this.retryTimeoutMs * Math.min(8, 2 ** p.retries));
    p.lastSentAt = performance.now();
    if (p.retries === 0) p.sentTo = this.firstTarget;
    p.retryAt = p.lastSentAt + wait;
    this.arm(Math.min(p.retryAt, p.deadline));
  }

  /** Makes the timer fire by `at`. New requests are due after the ones already waiting, so this rarely re-arms. */
  private arm(at: number): void {
    if (at >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.tick(), Math.max(0, at - performance.now()));
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  /**
   * Gives up on requests past their deadline and resends those due a retry, then re-arms for the
   * earliest time left. One pass over what is in flight, about once per `retryMs` under load (most
   * requests resolve long before they are due).
   */
  private tick(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    // libuv's timer clock counts whole milliseconds, so the timer can fire up to 1 ms before
    // `timerAt`: count anything due within that slack as due, instead of re-arming for a sub-ms wait.
    const now = performance.now() + 1;
    let next = Infinity;
    let resent = false;
    const held: Pending[] = [];
    for (const p of this.pending.values()) {
      if (p.deadline <= now) {
        const why = `${p.replies.length} replies, ${p.rejects?.size ?? 0} rejects, ${p.retries} retries`;
        this.finish(p, new ClientTimeoutError(p.seq, this.o.timeoutMs ?? 30_000, why));
        continue;
      }
      if (p.retryAt <= now && this.mayWait(p, now)) {
        // Nothing says this request was lost: it may only be queued behind a stall (a checkpoint
        // of a large state, a view change) or a slow pipeline, and resending a whole pipelined
        // window to every replica adds to the load the system is working through (4,096 requests,
        // four times over, at each stall). One request goes out per wait, the oldest due (pending
        // is in seq order), as TCP resends only its oldest segment on a timeout (RFC 6298 §5.4);
        // the others wait for the next.
        if (now - this.lastProbeAt < this.retryTimeoutMs) {
          held.push(p);
          continue;
        }
        this.lastProbeAt = now;
      }
      if (p.retryAt <= now) {
        if (!resent && now - this.backedOffAt >= this.retryTimeoutMs && this.retryTimeoutMs < this.waitCeiling()) {
          this.backedOff *= 2;
          this.backedOffAt = now;
        }
        resent = true;
        this.resendCount++;
        p.retries++;
        this.transmit(p);
      }
      next = Math.min(next, p.retryAt, p.deadline);
    }
    // Due at the next probe, with the wait as this round's resends left it, and not later than a
    // quarter of timeoutMs from the first send (see `mayWait`).
    for (const p of held) {
      p.retryAt = Math.min(Math.max(now, this.lastProbeAt + this.retryTimeoutMs), p.sentAt + this.waitCeiling());
      next = Math.min(next, p.retryAt, p.deadline);
    }
    if (next < Infinity) this.arm(next);
  }

  /**
   * Whether a due request may stay back while an older one probes (see `tick`). Not when there is
   * a sign it was lost: a later request, sent after it, was decided first (the pipeline is in seq
   * order), or its first attempt went to one replica alone that replies no longer name as the
   * leader. Nor past a quarter of `timeoutMs` from its
   * first send (`waitCeiling`): a leader that lets the probes through and drops the rest must not
   * keep this client's requests from every other replica, which would see them and replace it.
   */
  private mayWait(p: Pending, now: number): boolean {
    // Sent to one replica alone, which replies no longer name as the leader. Under a rotating
    // leader (HotStuff's round-robin) that is every request sent a view or more ago, so there a
    // stall still resends what is due, as before this rule: replies do not say whether the
    // protocol passed the request on.
    if (p.retries === 0 && p.sentTo !== undefined && p.sentTo !== this.firstTarget) return false;
    if (this.topDecided.seq > p.seq && this.topDecided.sentAt >= p.lastSentAt) return false;
    return now - p.sentAt < this.waitCeiling();
  }

  private enqueue(replica: NodeId, p: Pending): void {
    const list = this.outbox.get(replica);
    if (list) list.push(p);
    else this.outbox.set(replica, [p]);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // After the current turn's callbacks: every submit of this turn travels in one frame.
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const signed = new Map<string, Uint8Array>();
    for (const [replica, list] of this.outbox) {
      // Requests answered (or given up) while queued need not travel.
      const live = list.filter((r) => this.pending.has(r.seq));
      // By count and by bytes: a frame over the transport's limit would be dropped whole.
      for (const requests of framesOf(live, (r) => r.payload.length)) {
        const sigs = this.o.signing ? this.sign(this.o.signing, requests, signed) : undefined;
        this.o.endpoint.send(replica, encodeClientFrame({ type: 'request', requests, ...(sigs ? { sigs } : {}) }));
      }
    }
    this.outbox.clear();
  }

  /**
   * One signature per run of `MAX_GROUP_SIZE` requests. A flush usually sends the same requests
   * to every replica, so each run is signed once per flush (`signed`, keyed by its seqs) and not
   * once per replica.
   */
  private sign(signing: { readonly signer: Signer; readonly chainId: string }, requests: readonly WireRequest[], signed: Map<string, Uint8Array>): Uint8Array[] {
    const sigs: Uint8Array[] = [];
    for (let i = 0; i < requests.length; i += MAX_GROUP_SIZE) {
      const run = requests.slice(i, i + MAX_GROUP_SIZE);
      const key = run.map((r) => r.seq).join(',');
      let sig = signed.get(key);
      if (!sig) {
        sig = signGroup(signing.signer, this.o.endpoint.self, run, { chainId: signing.chainId, hasher: sha256Native });
        signed.set(key, sig);
      }
      sigs.push(sig);
    }
    return sigs;
  }

  private finish(p: Pending, outcome: ClientResult | Error): void {
    if (this.pending.get(p.seq) !== p) return;
    this.pending.delete(p.seq);
    if (this.pending.size === 0) this.disarm();
    if (outcome instanceof Error) p.reject(outcome);
    else p.resolve(outcome);
    this.admit();
  }

  private onFrame(from: NodeId, frame: Uint8Array): void {
    if (!this.o.replicas.includes(from)) return;
    let f;
    try {
      f = decodeClientFrame(frame);
    } catch {
      return; // a faulty replica's garbage; the honest ones still answer
    }
    if (f.type === 'reject') {
      for (const seq of rejectedSeqs(f)) {
        const p = this.pending.get(seq);
        if (!p) continue;
        (p.rejects ??= new Map()).set(from, f.code);
        if (PERMANENT_REJECTS.has(f.code) || f.code === 'expired') {
          const alike = [...p.rejects].filter(([, code]) => code === f.code).map(([r]) => r);
          if (alike.length >= this.o.quorum) {
            // 'expired' is not a refusal: the command ran, only its result is gone. Retrying cannot
            // bring it back, so say so at once rather than at the deadline.
            this.finish(p, f.code === 'expired' ? new ClientResultExpiredError(p.seq, alike) : new ClientRejectedError(p.seq, f.code, alike));
          }
        }
      }
      return;
    }
    if (f.type !== 'reply') return;
    for (const r of f.results) this.onResult(from, f, r.seq, r.result);
  }

  private onResult(from: NodeId, f: ReplyFrame, seq: bigint, result: Uint8Array): void {
    const p = this.pending.get(seq);
    if (!p) return;
    const reply: Reply = { from, result, frame: f };
    const at = p.replies.findIndex((x) => x.from === from);
    if (at >= 0) p.replies[at] = reply;
    else p.replies.push(reply);
    let count = 0;
    for (const r of p.replies) if (r.frame.height === f.height && bytesEqual(r.result, result)) count++;
    if (count < this.o.quorum) return;
    const matching = p.replies.filter((r) => r.frame.height === f.height && bytesEqual(r.result, result));
    if (this.o.followLeader !== false) {
      const hint = matching[0]!.frame.leader;
      if (hint !== undefined && matching.every((r) => r.frame.leader === hint)) this.setFirstTarget(hint);
    }
    const proof = matching.find((r) => r.frame.proof)?.frame.proof;
    if (p.seq > this.topDecided.seq) this.topDecided = { seq: p.seq, sentAt: p.sentAt };
    if (p.retries === 0) this.sampleLatency(performance.now() - p.sentAt);
    this.finish(p, {
      seq: p.seq,
      result,
      height: f.height,
      ...(proof ? { proof } : {}),
      replicas: matching.map((r) => r.from),
    });
  }
}
