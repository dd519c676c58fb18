/**
 * A tiny deterministic driver for unit tests: routes Ready.send between cores through the codec,
 * keeps virtual time and timers, applies commits to a hash-chain state machine, and persists into
 * an in-memory "disk" so replicas can be crashed and restarted. Every delivery order is decided
 * by a seeded xorshift, never by wall-clock time.
 */
import { expect } from 'vitest';
import type {
  ClientRequest,
  CommittedBatch,
  LogRecord,
  NodeId,
  ProtocolEvent,
  Rng,
  Signer,
  ValidatorSet,
  Verifier,
} from '@phalanx/interface';
import { bytesEqual, concatBytes, encode, toHex, utf8 } from '@phalanx/codec';
import { createValidatorSet, decodeCertificate, verifyCertificate } from '@phalanx/quorum';
import { PbftCore, pbftCodec, sha256 } from '../src/index.js';
import type { PbftConfig, PbftMessage } from '../src/index.js';

// ---- deterministic test crypto (a keyed hash: cheap, and unforgeable without the id's secret)
const secretOf = (id: string): Uint8Array => sha256(utf8.encode(`secret:${id}`));
export const publicKeyOf = (id: string): Uint8Array => utf8.encode(`pk:${id}`);
export function testSigner(id: string): Signer {
  const s = secretOf(id);
  return { scheme: 'ed25519', publicKey: publicKeyOf(id), sign: (m) => sha256(concatBytes(s, m)) };
}
export const testVerifier: Verifier = {
  verify(pk, msg, sig) {
    const text = utf8.decode(pk);
    if (!text.startsWith('pk:')) return false;
    return bytesEqual(sha256(concatBytes(secretOf(text.slice(3)), msg)), sig);
  },
};

export function seededRng(seed: number): Rng {
  let x = (seed >>> 0) || 0x9e3779b9;
  const nextU32 = (): number => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  return {
    nextU32,
    nextFloat: () => nextU32() / 2 ** 32,
    nextInt: (n) => Math.floor((nextU32() / 2 ** 32) * n),
    bytes: (len) => Uint8Array.from({ length: len }, () => nextU32() & 0xff),
  };
}

export function makeValidators(n: number): ValidatorSet {
  return createValidatorSet(Array.from({ length: n }, (_, i) => ({ id: `r${i}`, publicKey: publicKeyOf(`r${i}`), power: 1 })));
}

/** Hash-chain state machine: the state is (height, count, chain hash). */
class App {
  height = 0n;
  chain: Uint8Array = new Uint8Array(32);
  readonly applied: ClientRequest[] = [];
  apply(b: CommittedBatch): void {
    expect(b.height, 'heights are consecutive').toBe(this.height + 1n);
    this.height = b.height;
    for (const r of b.requests) {
      this.chain = sha256(concatBytes(this.chain, utf8.encode(`${r.client}/${r.seq}/`), r.payload));
      this.applied.push(r);
    }
  }
  snapshot(): Uint8Array {
    return encode([this.height, this.chain]);
  }
  restore(height: bigint, snap: Uint8Array): void {
    this.height = height;
    this.chain = snap.subarray(snap.length - 32).slice();
    // The applied list is no longer known below the snapshot.
    this.applied.length = 0;
  }
}

interface Disk {
  hardState?: Uint8Array;
  log: LogRecord[];
  snapshot?: { height: bigint; data: Uint8Array };
  appliedHeight: bigint;
}

export interface Node {
  id: NodeId;
  core: PbftCore;
  app: App;
  disk: Disk;
  timers: Map<string, number>;
  up: boolean;
  events: ProtocolEvent[];
  /** height -> digest of the requests committed there, for the agreement check. */
  committed: Map<bigint, string>;
  proofs: Map<bigint, Uint8Array>;
  signer: Signer;
}

export interface Packet {
  from: NodeId;
  to: NodeId;
  bytes: Uint8Array;
}

export interface ClusterOptions {
  n: number;
  seed?: number;
  config?: PbftConfig;
  /** Per-node config overrides. */
  configFor?: (id: NodeId) => PbftConfig | undefined;
  /** Shuffle deliveries (reorder). */
  reorder?: boolean;
  /** Drop probability in [0, 1). */
  loss?: number;
  /** Duplicate probability in [0, 1). */
  dup?: number;
  /** Real keys instead of the test MAC (e.g. Ed25519 from @phalanx/crypto). */
  keys?: { signer(id: NodeId): Signer; readonly verifier: Verifier };
  /** The verifier a replica's core gets (called at every boot); default: the cluster's. */
  verifierFor?: (id: NodeId) => Verifier;
  /** Called before each delivered message is stepped (e.g. to pre-verify it, as a runtime does). */
  beforeMessage?: (to: NodeId, from: NodeId, msg: PbftMessage) => void;
  /** The `snapshotHash` a replica's `applied` input carries (as the runtime's does); default none. */
  snapshotHash?: (id: NodeId, snapshot: Uint8Array) => Uint8Array | undefined;
}

export class Cluster {
  readonly validators: ValidatorSet;
  readonly verifier: Verifier;
  readonly nodes = new Map<NodeId, Node>();
  readonly ids: NodeId[];
  readonly rng: Rng;
  net: Packet[] = [];
  now = 0;
  /** Return false to drop a packet (partitions, Byzantine filters). */
  filter: (p: Packet) => boolean = () => true;
  /** Packets from these nodes are intercepted instead of delivered (Byzantine hooks). */
  readonly intercept = new Map<NodeId, (p: Packet, msg: PbftMessage) => Packet[]>();
  delivered = 0;
  private clientSeq = 0n;

  constructor(readonly opts: ClusterOptions) {
    this.validators = opts.keys
      ? createValidatorSet(Array.from({ length: opts.n }, (_, i) => ({ id: `r${i}`, publicKey: opts.keys!.signer(`r${i}`).publicKey, power: 1 })))
      : makeValidators(opts.n);
    this.verifier = opts.keys?.verifier ?? testVerifier;
    this.ids = this.validators.validators.map((v) => v.id);
    this.rng = seededRng(opts.seed ?? 1);
    for (const id of this.ids) this.boot(id, { log: [], appliedHeight: 0n });
  }

  private configOf(id: NodeId): PbftConfig {
    return { retransmitMs: 50, viewChangeTimeoutMs: 400, ...(this.opts.config ?? {}), ...(this.opts.configFor?.(id) ?? {}) };
  }

  private boot(id: NodeId, disk: Disk, recovered = false): Node {
    const signer = this.opts.keys?.signer(id) ?? testSigner(id);
    const ctx = { self: id, validators: this.validators, signer, verifier: this.opts.verifierFor?.(id) ?? this.verifier, rng: seededRng(this.ids.indexOf(id) + 7) };
    const core = new PbftCore(
      ctx,
      this.configOf(id),
      recovered
        ? {
            ...(disk.hardState ? { hardState: disk.hardState } : {}),
            log: disk.log,
            ...(disk.snapshot ? { snapshot: disk.snapshot } : {}),
            appliedHeight: disk.appliedHeight,
          }
        : undefined,
    );
    const app = new App();
    if (recovered && disk.snapshot) app.restore(disk.snapshot.height, disk.snapshot.data);
    const node: Node = { id, core, app, disk, timers: new Map(), up: true, events: [], committed: new Map(), proofs: new Map(), signer };
    const old = this.nodes.get(id);
    if (old) for (const [h, d] of old.committed) node.committed.set(h, d);
    this.nodes.set(id, node);
    this.drain(node);
    return node;
  }

  /** Crash: timers and in-flight packets to it are lost; the disk survives. */
  crash(id: NodeId): void {
    const n = this.nodes.get(id)!;
    n.up = false;
    n.timers.clear();
  }

  /** Restart from disk. The application state is rebuilt from the snapshot (like a real runtime would). */
  restart(id: NodeId): Node {
    const old = this.nodes.get(id)!;
    // The app state is volatile: the runtime reloads the latest snapshot; appliedHeight is the snapshot's.
    const disk: Disk = { ...old.disk, log: [...old.disk.log], appliedHeight: old.disk.snapshot?.height ?? 0n };
    return this.boot(id, disk, true);
  }

  node(id: NodeId): Node {
    return this.nodes.get(id)!;
  }

  primary(): NodeId {
    const views = [...this.nodes.values()].filter((n) => n.up).map((n) => n.core.status().view);
    const v = views.reduce((a, b) => (b > a ? b : a), 0n);
    return this.ids[Number(v % BigInt(this.ids.length))]!;
  }

  request(to: NodeId | 'all' = 'all', payload = utf8.encode('x'), client = 'c0'): ClientRequest {
    const r: ClientRequest = { client, seq: this.clientSeq++, payload };
    this.deliverRequest(to, r);
    return r;
  }

  deliverRequest(to: NodeId | 'all', r: ClientRequest): void {
    for (const id of to === 'all' ? this.ids : [to]) {
      const n = this.nodes.get(id)!;
      if (!n.up) continue;
      n.core.step({ type: 'request', request: r });
      this.drain(n);
    }
  }

  inject(from: NodeId, to: NodeId, msg: PbftMessage): void {
    this.net.push({ from, to, bytes: pbftCodec.encode(msg) });
  }

  drain(n: Node): void {
    while (n.core.hasReady()) {
      const r = n.core.ready();
      if (r.persist) {
        const p = r.persist;
        if (p.hardState) n.disk.hardState = p.hardState;
        n.disk.log.push(...p.append);
        if (p.compactTo !== undefined) n.disk.log = n.disk.log.filter((x) => x.index >= p.compactTo!);
      }
      for (const o of r.send) {
        const bytes = pbftCodec.encode(o.msg);
        for (const to of o.to === 'all' ? this.ids.filter((x) => x !== n.id) : [o.to]) {
          const pkt = { from: n.id, to, bytes };
          const hook = this.intercept.get(n.id);
          if (hook) this.net.push(...hook(pkt, o.msg));
          else this.net.push(pkt);
        }
      }
      if (r.restore) {
        n.app.restore(r.restore.height, r.restore.snapshot);
        n.disk.snapshot = { height: r.restore.height, data: r.restore.snapshot };
        n.disk.appliedHeight = r.restore.height;
      }
      const applied: bigint[] = [];
      for (const b of r.commit) {
        n.app.apply(b);
        n.disk.appliedHeight = b.height;
        const cert = decodeCertificate(b.proof!);
        const threshold = this.configOf(n.id).unsafeQuorumOverride;
        verifyCertificate(cert, this.validators, this.verifier, { kind: 'pbft/commit', height: b.height, ...(threshold ? { threshold } : {}) });
        n.committed.set(b.height, toHex(cert.digest));
        n.proofs.set(b.height, b.proof!);
        if (b.reportState) applied.push(b.height);
      }
      for (const t of r.timers) {
        if (t.op === 'set') n.timers.set(t.id, this.now + t.ms);
        else n.timers.delete(t.id);
      }
      n.events.push(...r.events);
      for (const h of applied) {
        const snap = n.app.snapshot();
        n.disk.snapshot = { height: h, data: snap };
        const snapshotHash = this.opts.snapshotHash?.(n.id, snap);
        n.core.step({ type: 'applied', height: h, stateDigest: sha256(snap), snapshot: snap, ...(snapshotHash ? { snapshotHash } : {}) });
      }
    }
  }

  /** Delivers one packet (or fires the earliest timer when the network is empty). False when idle. */
  tick(): boolean {
    if (this.net.length > 0) {
      const i = this.opts.reorder ? this.rng.nextInt(this.net.length) : 0;
      const [p] = this.net.splice(i, 1);
      const pkt = p!;
      const dst = this.nodes.get(pkt.to)!;
      if (!dst.up || !this.filter(pkt)) return true;
      if (this.opts.loss && this.rng.nextFloat() < this.opts.loss) return true;
      if (this.opts.dup && this.rng.nextFloat() < this.opts.dup) this.net.push(pkt);
      const msg = pbftCodec.decode(pkt.bytes);
      this.delivered++;
      this.opts.beforeMessage?.(pkt.to, pkt.from, msg);
      dst.core.step({ type: 'message', from: pkt.from, msg });
      this.drain(dst);
      return true;
    }
    let best: { node: Node; id: string; at: number } | undefined;
    for (const node of this.nodes.values()) {
      if (!node.up) continue;
      for (const [id, at] of node.timers) if (!best || at < best.at) best = { node, id, at };
    }
    if (!best) return false;
    this.now = Math.max(this.now, best.at);
    best.node.timers.delete(best.id);
    best.node.core.step({ type: 'timeout', timer: best.id });
    this.drain(best.node);
    return true;
  }

  /** Runs until `done` holds (checked after every tick) or the budget is exhausted. */
  runUntil(done: () => boolean, maxTicks = 200_000, maxTimeMs = 600_000): boolean {
    for (let i = 0; i < maxTicks; i++) {
      if (done()) return true;
      if (this.now > maxTimeMs) return false;
      if (!this.tick()) return done();
    }
    return done();
  }

  committedAll(height: bigint, ids: readonly NodeId[] = this.ids): boolean {
    return ids.every((id) => this.node(id).core.status().committedHeight >= height);
  }

  /** Agreement (§4.2 safety): no two replicas committed different batches at one height. */
  checkAgreement(): void {
    const seen = new Map<bigint, string>();
    for (const n of this.nodes.values()) {
      for (const [h, d] of n.committed) {
        const prev = seen.get(h);
        if (prev !== undefined) expect(d, `agreement at height ${h} (${n.id})`).toBe(prev);
        else seen.set(h, d);
      }
    }
  }

  /** Requests executed per replica at most once, and internal errors none. */
  checkHealthy(ids: readonly NodeId[] = this.ids): void {
    for (const id of ids) {
      const n = this.node(id);
      expect(n.core.status().detail?.internalErrors, `${id} internal errors`).toBe(0);
      const keys = n.app.applied.map((r) => `${r.client}/${r.seq}`);
      expect(new Set(keys).size, `${id} executes each request once`).toBe(keys.length);
    }
  }
}
