/**
 * A tiny deterministic cluster driver for tests: virtual time, seeded randomness, in-memory
 * "storage" (hard state + log), message loss/partition filters, crash/restart. Every message goes
 * through the codec so encoding is exercised on every run.
 */
import type { ClientRequest, CommittedBatch, Input, LogRecord, NodeId, PersistRequest, ProtocolEvent, Rng, Signer, ValidatorSet, Verifier } from '@phalanx/interface';
import { bytesEqual, concatBytes, toHex, utf8 } from '@phalanx/codec';
import { createValidatorSet } from '@phalanx/quorum';
import { sha256 } from '@noble/hashes/sha2.js';
import { hotstuff, hotstuffCodec, verifyCommitProof } from '../src/index.js';
import type { HotStuffConfig, HotStuffMessage , HotStuffCore} from '../src/index.js';

export function seededRng(seed: number): Rng {
  let s = (seed >>> 0) || 0x9e3779b9;
  const nextU32 = (): number => {
    // xorshift32
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
  return {
    nextU32,
    nextFloat: () => nextU32() / 2 ** 32,
    nextInt: (n: number) => Math.floor((nextU32() / 2 ** 32) * n),
    bytes: (len: number) => {
      const out = new Uint8Array(len);
      for (let i = 0; i < len; i++) out[i] = nextU32() & 0xff;
      return out;
    },
  };
}

/** Fast keyed-hash "signatures" for protocol tests (NOT secure: the key is public). */
export function fakeKeys(id: string): { signer: Signer; publicKey: Uint8Array } {
  const publicKey = sha256(utf8.encode(`pk:${id}`));
  return { publicKey, signer: { scheme: 'ed25519', publicKey, sign: (m) => sha256(concatBytes(publicKey, m)) } };
}

export const fakeVerifier: Verifier = {
  verify: (pk, m, sig) => bytesEqual(sha256(concatBytes(pk, m)), sig),
};

export function fakeValidators(n: number, prefix = 'r'): { ids: string[]; validators: ValidatorSet; signers: Map<string, Signer> } {
  const ids = Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  const signers = new Map<string, Signer>();
  const list = ids.map((id) => {
    const k = fakeKeys(id);
    signers.set(id, k.signer);
    return { id, publicKey: k.publicKey, power: 1 };
  });
  return { ids, validators: createValidatorSet(list), signers };
}

export interface Envelope {
  from: NodeId;
  to: NodeId;
  bytes: Uint8Array;
  at: number;
}

export interface NodeState {
  id: NodeId;
  core: HotStuffCore | undefined;
  hardState: Uint8Array | undefined;
  log: LogRecord[];
  committed: CommittedBatch[];
  /** Height of the last "snapshot" (a `reportState` batch): what a restart restores the application to. */
  snapshotHeight: bigint;
  /** The stored snapshot (`appState`), handed back on restart as the runtime does. */
  snapshot: { height: bigint; data: Uint8Array } | undefined;
  /** Height of the last state installed by state transfer (`Ready.restore`); `committed` starts above it. */
  restoredAt: bigint;
  /** Number of distinct requests committed (cheap to poll). */
  committedRequests: Set<string>;
  events: ProtocolEvent[];
  timers: Map<string, number>;
  sent: HotStuffMessage[];
}

export interface ClusterOptions {
  n: number;
  seed: number;
  config?: Partial<HotStuffConfig>;
  /** Per-node config overrides. */
  configFor?: (id: string) => Partial<HotStuffConfig>;
  minDelay?: number;
  maxDelay?: number;
  /** Drop probability for every message. */
  loss?: number;
  signers?: Map<string, Signer>;
  validators?: ValidatorSet;
  ids?: string[];
  verifier?: Verifier;
  /** The verifier of one replica's core (default: `verifier`, shared). Asked on every (re)start. */
  verifierFor?: (id: string) => Verifier;
}

export class Cluster {
  readonly ids: string[];
  readonly validators: ValidatorSet;
  readonly signers: Map<string, Signer>;
  readonly verifier: Verifier;
  readonly nodes = new Map<string, NodeState>();
  readonly rng: Rng;
  now = 0;
  queue: Envelope[] = [];
  /** Return false to drop a message. */
  filter: (e: Envelope, msg: HotStuffMessage) => boolean = () => true;
  /** Rewrites outgoing messages of a (Byzantine) node; return [] to drop, several to fan out. */
  tamper: ((from: NodeId, to: NodeId, msg: HotStuffMessage) => Array<{ to: NodeId; msg: HotStuffMessage }>) | undefined;
  /** Runs just before a delivered message or a client request is stepped into replica `id` (as a runtime pre-verifies). */
  beforeStep: ((id: NodeId, input: Input<HotStuffMessage>) => void) | undefined;
  delivered = 0;

  constructor(readonly opts: ClusterOptions) {
    const v = opts.validators ? { ids: opts.ids!, validators: opts.validators, signers: opts.signers! } : fakeValidators(opts.n);
    this.ids = v.ids;
    this.validators = v.validators;
    this.signers = v.signers;
    this.verifier = opts.verifier ?? fakeVerifier;
    this.rng = seededRng(opts.seed);
    for (const id of this.ids) {
      this.nodes.set(id, { id, core: undefined, hardState: undefined, log: [], committed: [], snapshotHeight: 0n, snapshot: undefined, restoredAt: 0n, committedRequests: new Set(), events: [], timers: new Map(), sent: [] });
      this.start(id);
    }
  }

  config(id: string): HotStuffConfig {
    // No status probe unless a test asks for one: it never stops, and `run()` goes until quiet.
    return { chainId: 'test', baseTimeoutMs: 100, statusIntervalMs: 0, ...this.opts.config, ...(this.opts.configFor?.(id) ?? {}) } as HotStuffConfig;
  }

  start(id: string): void {
    const node = this.nodes.get(id)!;
    if (node.snapshot) {
      // As the runtime does: the application restarts from its last snapshot, and the core hands
      // out again what the log holds above it.
      node.committed = node.committed.filter((c) => c.height <= node.snapshot!.height);
      node.committedRequests = new Set(readAppState(node.snapshot.data).keys);
    }
    const applied = node.snapshot?.height ?? 0n;
    const recovered =
      node.hardState || node.log.length > 0 || node.snapshot
        ? { hardState: node.hardState, log: node.log, appliedHeight: applied, ...(node.snapshot ? { snapshot: node.snapshot } : {}) }
        : undefined;
    node.core = hotstuff.create(
      { self: id, validators: this.validators, signer: this.signers.get(id)!, verifier: this.opts.verifierFor?.(id) ?? this.verifier, rng: seededRng(this.opts.seed * 31 + this.ids.indexOf(id) + 1) },
      this.config(id),
      recovered,
    ) as HotStuffCore;
    node.timers.clear();
    this.flush(id);
  }

  crash(id: string): void {
    const node = this.nodes.get(id)!;
    node.core = undefined;
    node.timers.clear();
    this.queue = this.queue.filter((e) => e.to !== id);
  }

  request(id: string, r: ClientRequest): void {
    const node = this.nodes.get(id)!;
    if (!node.core) return;
    this.beforeStep?.(id, { type: 'request', request: r });
    node.core.step({ type: 'request', request: r });
    this.flush(id);
  }

  /** Submits the same request to every live replica (a client broadcasting). */
  requestAll(r: ClientRequest): void {
    for (const id of this.ids) this.request(id, r);
  }

  flush(id: string): void {
    const node = this.nodes.get(id)!;
    const core = node.core;
    if (!core) return;
    while (core.hasReady()) {
      const r = core.ready();
      if (r.persist) persistInto(node, r.persist, id);
      for (const s of r.send) {
        node.sent.push(s.msg);
        const targets = s.to === 'all' ? this.ids.filter((x) => x !== id) : [s.to];
        for (const to of targets) {
          const outs = this.tamper ? this.tamper(id, to, s.msg) : [{ to, msg: s.msg }];
          for (const o of outs) {
            const bytes = hotstuffCodec.encode(o.msg);
            const delay = (this.opts.minDelay ?? 1) + this.rng.nextInt((this.opts.maxDelay ?? 10) - (this.opts.minDelay ?? 1) + 1);
            this.queue.push({ from: id, to: o.to, bytes, at: this.now + delay });
          }
        }
      }
      if (r.restore) {
        // As the runtime does: install the state, store it as the latest snapshot.
        node.committedRequests = new Set(readAppState(r.restore.snapshot).keys);
        node.committed = [];
        node.restoredAt = r.restore.height;
        node.snapshot = { height: r.restore.height, data: r.restore.snapshot };
        node.snapshotHeight = r.restore.height;
      }
      for (const c of r.commit) {
        // As the runtime does: a height already in the application state is skipped.
        const applied = this.committedHeight(id);
        if (c.height <= applied) continue;
        const expected = applied + 1n;
        if (c.height !== expected) throw new Error(`${id}: commit height ${c.height}, expected ${expected}`);
        node.committed.push(c);
        for (const r of c.requests) node.committedRequests.add(`${r.client}/${r.seq}`);
        // As the runtime does once the snapshot of that height is stored (the "application" here
        // is `committed`; a restart keeps it up to the last snapshot).
        if (c.reportState) {
          node.snapshotHeight = c.height;
          const data = appState(c.height, node.committedRequests);
          node.snapshot = { height: c.height, data };
          core.step({ type: 'applied', height: c.height, stateDigest: sha256(data), snapshot: data });
        }
      }
      for (const t of r.timers) {
        if (t.op === 'set') node.timers.set(t.id, this.now + t.ms);
        else node.timers.delete(t.id);
      }
      node.events.push(...r.events);
      if (node.events.length > 10_000) node.events.splice(0, node.events.length - 10_000);
    }
  }

  /** Delivers one message or fires one timer; false when nothing is left. */
  tick(): boolean {
    let bestMsg = -1;
    for (let i = 0; i < this.queue.length; i++) if (bestMsg < 0 || this.queue[i]!.at < this.queue[bestMsg]!.at) bestMsg = i;
    let bestTimer: { id: string; timer: string; at: number } | undefined;
    for (const node of this.nodes.values()) {
      if (!node.core) continue;
      for (const [timer, at] of node.timers) if (!bestTimer || at < bestTimer.at) bestTimer = { id: node.id, timer, at };
    }
    if (bestMsg < 0 && !bestTimer) return false;
    if (bestMsg >= 0 && (!bestTimer || this.queue[bestMsg]!.at <= bestTimer.at)) {
      const e = this.queue.splice(bestMsg, 1)[0]!;
      this.now = Math.max(this.now, e.at);
      const node = this.nodes.get(e.to);
      if (!node?.core) return true;
      const msg = hotstuffCodec.decode(e.bytes);
      if (this.opts.loss && this.rng.nextFloat() < this.opts.loss) return true;
      if (!this.filter(e, msg)) return true;
      this.delivered++;
      this.beforeStep?.(e.to, { type: 'message', from: e.from, msg });
      node.core.step({ type: 'message', from: e.from, msg });
      this.flush(e.to);
      return true;
    }
    const t = bestTimer!;
    this.now = Math.max(this.now, t.at);
    const node = this.nodes.get(t.id)!;
    node.timers.delete(t.timer);
    node.core!.step({ type: 'timeout', timer: t.timer });
    this.flush(t.id);
    return true;
  }

  /** Runs until quiet, `until()` holds, or the step/time budget is spent. */
  run(opts: { until?: () => boolean; maxSteps?: number; maxTime?: number } = {}): number {
    const maxSteps = opts.maxSteps ?? 200_000;
    let steps = 0;
    while (steps < maxSteps) {
      if (opts.until?.()) break;
      if (opts.maxTime !== undefined && this.now > opts.maxTime) break;
      if (!this.tick()) break;
      steps++;
    }
    return steps;
  }

  committedHeight(id: string): bigint {
    const node = this.nodes.get(id)!;
    const c = node.committed;
    return c.length === 0 ? maxBig(node.restoredAt, node.snapshot?.height ?? 0n) : c[c.length - 1]!.height;
  }

  /** Agreement + validity of proofs: all replicas committed the same block at each height. */
  checkAgreement(verifyProofs = false): void {
    const byHeight = new Map<bigint, string>();
    for (const node of this.nodes.values()) {
      for (const c of node.committed) {
        const info = verifyProofs
          ? verifyCommitProof(c.proof!, this.validators, this.verifier, { chainId: 'test', commitRule: this.config(node.id).commitRule ?? 'three-chain' })
          : undefined;
        const key = info ? toHex(info.hash) : `${c.requests.map((r) => `${r.client}/${r.seq}`).join(',')}|${toHex(c.proof!.subarray(0, 0))}`;
        const digest = info ? key : proofBlockKey(c.proof!);
        const seen = byHeight.get(c.height);
        if (seen === undefined) byHeight.set(c.height, digest);
        else if (seen !== digest) throw new Error(`agreement violated at height ${c.height} (${node.id})`);
      }
    }
  }

  committedKeys(id: string): string[] {
    return this.nodes.get(id)!.committed.flatMap((c) => c.requests.map((r) => `${r.client}/${r.seq}`));
  }
}

import { decode, readMap } from '@phalanx/codec';
import { proofTarget } from '../src/proof.js';
import { sha256Hasher } from '../src/block.js';

/** Hash of the committed block inside a proof (without verifying the proof). */
export function proofBlockKey(proof: Uint8Array): string {
  const m = readMap(decode(proof), 'proof');
  return toHex(proofTarget(m.block, sha256Hasher).hash);
}

export function req(client: string, seq: number, payload = 'x'): ClientRequest {
  return { client, seq: BigInt(seq), payload: utf8.encode(payload) };
}

/**
 * Applies a core's persist request to an in-memory disk as storage does, in its order: hard state,
 * truncation, appends (contiguous, or it throws), compaction (records below `compactTo` are gone,
 * and a restart recovers without them).
 */
export function persistInto(disk: { hardState: Uint8Array | undefined; log: LogRecord[] }, p: PersistRequest, id: string): void {
  if (p.hardState) disk.hardState = p.hardState;
  const cut = p.truncateFrom;
  if (cut !== undefined) disk.log = disk.log.filter((rec) => rec.index < cut);
  for (const rec of p.append) {
    const last = disk.log[disk.log.length - 1];
    if (last && rec.index !== last.index + 1n) throw new Error(`${id}: log gap ${last.index} -> ${rec.index}`);
    disk.log.push(rec);
  }
  const to = p.compactTo;
  if (to !== undefined) disk.log = disk.log.filter((rec) => rec.index >= to);
}

/**
 * The harness application's state: the height and every request key executed, as bytes, padded
 * by 64 bytes per command (standing in for the data commands write) so that states grow with the
 * chain and state transfer moves them in several pieces.
 */
export function appState(height: bigint, keys: Iterable<string>): Uint8Array {
  const sorted = [...keys].sort();
  return utf8.encode(JSON.stringify([String(height), sorted, '.'.repeat(64 * sorted.length)]));
}

export function readAppState(data: Uint8Array): { height: bigint; keys: string[] } {
  const [h, keys] = JSON.parse(utf8.decode(data)) as [string, string[], string];
  return { height: BigInt(h), keys };
}

const maxBig = (a: bigint, b: bigint): bigint => (a > b ? a : b);
