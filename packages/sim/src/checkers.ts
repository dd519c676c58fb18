import type { ClientRequest, CommittedBatch, NodeId } from '@phalanx/interface';
import { bytesEqual, toHex } from '@phalanx/codec';
import type { CheckerName, Violation } from './types.js';

/** Identity of a request: client id and sequence number. */
export function requestKey(client: NodeId, seq: bigint): string {
  return `${client}#${seq}`;
}

/** A printable identity of a batch's contents (what agreement compares). */
export function batchKey(batch: CommittedBatch): string {
  if (batch.requests.length === 0) return '∅';
  let s = '';
  for (const r of batch.requests) s += `${r.client}#${r.seq}:${toHex(r.payload)};`;
  return s;
}

/** A short, readable name of a batch for messages: its request ids, or ∅. */
export function batchLabel(batch: CommittedBatch): string {
  if (batch.requests.length === 0) return '∅';
  const ids = batch.requests.map((r) => `${r.client}#${r.seq}`);
  return `[${ids.length > 6 ? `${ids.slice(0, 6).join(',')},… ${ids.length} requests` : ids.join(',')}]`;
}

/** Names two different batches so a reader sees how they differ even when their ids match. */
function contrast(a: { key: string; label: string }, b: { key: string; label: string }): [string, string] {
  return a.label === b.label && a.key !== b.key ? [a.label, `${b.label} with other payloads`] : [a.label, b.label];
}

interface ReplicaLog {
  /** Height → batch key, kept across crash-restart (durability compares against it). */
  readonly committed: Map<bigint, string>;
  readonly labels: Map<bigint, string>;
  /** Request key → height it was committed at. */
  readonly executed: Map<string, bigint>;
  restarts: number;
  /** Highest height committed before the last restart. */
  committedBeforeRestart: bigint;
  /** Height → state digest hex reported after applying it. */
  readonly digests: Map<bigint, string>;
  /** Highest height installed by state transfer (`Ready.restore`): requests below it count as executed. */
  restoredTo: bigint;
}

/**
 * Independent checkers. They read only what replicas output (committed batches, state digests)
 * and what clients submitted — never protocol internals — so they judge any protocol the same way.
 * Only honest replicas are judged; Byzantine ones may output anything.
 */
export class Checkers {
  readonly violations: Violation[] = [];
  private readonly submitted = new Map<string, ClientRequest>();
  private readonly firstCommit = new Map<bigint, { key: string; label: string; node: NodeId }>();
  /** Request key → height any honest replica committed it at. */
  private readonly globalExecuted = new Map<string, bigint>();
  private readonly firstDigest = new Map<bigint, { digest: string; node: NodeId }>();
  private readonly logs = new Map<NodeId, ReplicaLog>();
  private readonly allowDuplicateCommits: boolean;
  private readonly toleratedForgedRequests: boolean;
  /** Committed requests no client submitted (only counted, not failed, when tolerated). */
  forgedRequests = 0;
  /** Submitted requests whose (client, seq) a forged payload took first: they can never commit. */
  readonly preempted = new Set<string>();

  constructor(
    honest: readonly NodeId[],
    options: { allowDuplicateCommits?: boolean; toleratedForgedRequests?: boolean } = {},
  ) {
    for (const id of honest) {
      this.logs.set(id, {
        committed: new Map(),
        labels: new Map(),
        executed: new Map(),
        restarts: 0,
        committedBeforeRestart: 0n,
        digests: new Map(),
        restoredTo: 0n,
      });
    }
    this.allowDuplicateCommits = options.allowDuplicateCommits ?? false;
    this.toleratedForgedRequests = options.toleratedForgedRequests ?? false;
  }

  /** True when a client submitted exactly this request (the application's stand-in for a client signature). */
  isAuthentic(r: ClientRequest): boolean {
    const sub = this.submitted.get(requestKey(r.client, r.seq));
    return sub !== undefined && bytesEqual(sub.payload, r.payload);
  }

  isHonest(id: NodeId): boolean {
    return this.logs.has(id);
  }

  private fail(checker: CheckerName, time: number, message: string): void {
    if (this.violations.length < 50) this.violations.push({ checker, time, message });
  }

  /** Records a robustness failure seen by the simulator (a core throwing, a codec crashing). */
  report(checker: CheckerName, time: number, message: string): void {
    this.fail(checker, time, message);
  }

  onSubmit(req: ClientRequest): void {
    const k = requestKey(req.client, req.seq);
    if (!this.submitted.has(k)) this.submitted.set(k, req);
  }

  submittedCount(): number {
    return this.submitted.size;
  }

  onRestart(node: NodeId): void {
    const log = this.logs.get(node);
    if (!log) return;
    log.restarts++;
    let max = 0n;
    for (const h of log.committed.keys()) if (h > max) max = h;
    log.committedBeforeRestart = max;
  }

  /** `expectedHeight` is the replica's applied height + 1 (total order: no gaps, no repeats). */
  onCommit(node: NodeId, batch: CommittedBatch, expectedHeight: bigint, time: number): void {
    const log = this.logs.get(node);
    if (!log) return;
    const h = batch.height;
    const key = batchKey(batch);
    const label = batchLabel(batch);
    // Total order: a replica's commits are consecutive from its applied height.
    if (h !== expectedHeight) {
      this.fail('total-order', time, `${node} committed height ${h} but its next height was ${expectedHeight}`);
    }
    // Durability: what a replica committed before a crash it never contradicts after restart.
    const mine = log.committed.get(h);
    if (mine !== undefined && mine !== key) {
      const which: CheckerName = log.restarts > 0 && h <= log.committedBeforeRestart ? 'durability' : 'total-order';
      const [x, y] = contrast({ key: mine, label: log.labels.get(h) ?? '?' }, { key, label });
      this.fail(which, time, `${node} committed two batches at height ${h}: ${x} then ${y}`);
    }
    log.committed.set(h, key);
    log.labels.set(h, label);
    // Agreement: no two honest replicas commit different batches at one height.
    const first = this.firstCommit.get(h);
    if (first === undefined) this.firstCommit.set(h, { key, label, node });
    else if (first.key !== key && first.node !== node) {
      const [x, y] = contrast(first, { key, label });
      this.fail('agreement', time, `height ${h}: ${first.node} committed ${x}, ${node} committed ${y}`);
    }
    // Validity: only submitted commands, each (client, seq) at one height.
    for (const r of batch.requests) {
      const k = requestKey(r.client, r.seq);
      const sub = this.submitted.get(k);
      if (sub === undefined || !bytesEqual(sub.payload, r.payload)) {
        this.forgedRequests++;
        if (sub !== undefined && !log.executed.has(k)) this.preempted.add(k);
        if (!this.toleratedForgedRequests) {
          this.fail('validity', time, `${node} committed ${k} at height ${h}, ${sub ? 'with a payload the client did not send' : 'which no client submitted'}`);
        }
        continue;
      }
      if (!this.globalExecuted.has(k)) this.globalExecuted.set(k, h);
      const at = log.executed.get(k);
      if (at === undefined) log.executed.set(k, h);
      else if (at !== h && !this.allowDuplicateCommits) {
        this.fail('validity', time, `${node} committed ${k} twice: at heights ${at} and ${h}`);
      }
    }
  }

  /** A replica installed a snapshot at `height` (state transfer). */
  onRestore(node: NodeId, height: bigint): void {
    const log = this.logs.get(node);
    if (log && height > log.restoredTo) log.restoredTo = height;
  }

  /** Submitted requests `node` has not executed (directly, or inside a snapshot it installed). */
  missing(node: NodeId, limit = Number.MAX_SAFE_INTEGER): string[] {
    const log = this.logs.get(node);
    if (!log) return [];
    const out: string[] = [];
    for (const k of this.submitted.keys()) {
      if (log.executed.has(k) || this.preempted.has(k)) continue;
      const h = this.globalExecuted.get(k);
      if (h !== undefined && h <= log.restoredTo) continue;
      out.push(k);
      if (out.length >= limit) break;
    }
    return out;
  }

  /** A batch at or below the replica's applied height, re-delivered (e.g. log replay after restart). */
  onRecommit(node: NodeId, batch: CommittedBatch, time: number): void {
    const log = this.logs.get(node);
    if (!log) return;
    const mine = log.committed.get(batch.height);
    const key = batchKey(batch);
    if (mine !== undefined && mine !== key) {
      const [x, y] = contrast({ key, label: batchLabel(batch) }, { key: mine, label: log.labels.get(batch.height) ?? '?' });
      this.fail('durability', time, `${node} re-delivered height ${batch.height} as ${x} but had committed ${y}`);
    }
  }

  onDigest(node: NodeId, height: bigint, digest: Uint8Array, time: number): void {
    const log = this.logs.get(node);
    if (!log) return;
    const hex = toHex(digest);
    log.digests.set(height, hex);
    const first = this.firstDigest.get(height);
    if (first === undefined) this.firstDigest.set(height, { digest: hex, node });
    else if (first.digest !== hex) {
      this.fail('state', time, `height ${height}: ${first.node} has state ${hex.slice(0, 12)}…, ${node} has ${first.digest.slice(0, 12)}…`);
    }
  }

  /** Honest logs are prefixes of one another (checked over the heights each replica holds). */
  checkTotalOrder(time: number): void {
    const entries = [...this.logs.entries()];
    for (let i = 0; i < entries.length; i++) {
      for (let j = i + 1; j < entries.length; j++) {
        const [a, la] = entries[i]!;
        const [b, lb] = entries[j]!;
        for (const [h, k] of la.committed) {
          const other = lb.committed.get(h);
          if (other !== undefined && other !== k) {
            this.fail('total-order', time, `logs of ${a} and ${b} diverge at height ${h}`);
            break;
          }
        }
      }
    }
  }

  /**
   * Liveness: every submitted request is committed by each of `live` (honest replicas up at the
   * end). Reported once per replica with the first few missing requests.
   */
  checkLiveness(live: readonly NodeId[], time: number, why: string): void {
    for (const id of live) {
      if (!this.logs.has(id)) continue;
      const missing = this.missing(id);
      if (missing.length > 0) {
        this.fail('liveness', time, `${id} never committed ${missing.length} request(s) ${why} (e.g. ${missing.slice(0, 3).join(', ')})`);
      }
    }
  }

  /** Application-state equality for replicas at equal heights (digests of their final states). */
  checkFinalStates(states: ReadonlyArray<{ node: NodeId; height: bigint; digest: string }>, time: number): void {
    const byHeight = new Map<bigint, { node: NodeId; digest: string }>();
    for (const s of states) {
      if (!this.logs.has(s.node)) continue;
      const seen = byHeight.get(s.height);
      if (!seen) byHeight.set(s.height, s);
      else if (seen.digest !== s.digest) {
        this.fail('state', time, `final state at height ${s.height} differs between ${seen.node} and ${s.node}`);
      }
    }
  }

  committedHeight(node: NodeId): bigint {
    let max = 0n;
    for (const h of this.logs.get(node)?.committed.keys() ?? []) if (h > max) max = h;
    return max;
  }
}
