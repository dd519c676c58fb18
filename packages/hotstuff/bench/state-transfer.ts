/**
 * State-transfer benchmark: how fast a replica further behind than every peer's sync window
 * fetches and installs a certified application state of S bytes (64 MiB; 8 MiB quick).
 *
 * n = 4 replicas in ONE process, real Ed25519 (@phalanx/crypto), native SHA-256 as the `hasher`,
 * and every message encoded and decoded by `hotstuffCodec`, as a transport would carry it. The
 * "application" is S synthetic bytes (the height stamped in the first 8) that the serving replicas
 * report through `applied` with its real SHA-256. r3 commits two commands, goes down while the other
 * three commit about five sync windows more (`syncWindow: 8`, `snapshotInterval: 4`), then
 * restarts from its log: its status request brings back a certified checkpoint ≥ 8 blocks ahead,
 * so it must transfer (nobody keeps the blocks it misses).
 *
 * Clock: the cores' clock is the process's wall clock plus the idle time skipped. Messages are
 * delivered at once (in-process transport), a timer fires as soon as it is due, and when nothing
 * is queued the clock jumps to the next timer instead of sleeping. So the transfer's elapsed time
 * is its processing time plus the waits the protocol imposes (the per-tick serving budget), as a
 * deployment would see it on an idle network, without the benchmark actually sleeping.
 *
 * Ceilings from the same run: native SHA-256 over S bytes (the receiver hashes the whole state
 * once), and encode+decode of S bytes as `state` messages through the codec (the pieces without
 * any protocol). Both together are the least a transfer in one process does.
 */
import { createRecorder, measure, quick, sized } from '@phalanx/bench-kit';
import type { BenchRecord, Ceiling } from '@phalanx/bench-kit';
import { createVerifier, generateKeyPair, sha256Native, signerFromSecret } from '@phalanx/crypto';
import { bytesEqual, utf8 } from '@phalanx/codec';
import type { HotStuffMessage } from '../src/index.js';
import { hotstuff, hotstuffCodec } from '../src/index.js';
import { persistInto } from '../test/harness.js';
import type { LogRecord, NodeId, ProtocolCore, RecoveredState, Rng, Signer } from '@phalanx/interface';
import { createValidatorSet } from '@phalanx/quorum';
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';

const MiB = 2 ** 20;
const SYNC_WINDOW = 8;
const SNAPSHOT_INTERVAL = 4;
/** Pieces a replica serves each peer per state tick (MAX_PIECES_PER_TICK in src/core.ts). */
const PIECES_PER_TICK = 32;
const LAGGER = 'r3';
/**
 * The short state tick: its budget (32 MiB per 50 ms, 671 MB/s) is above what one process moves
 * here. Much shorter is not faster: a transfer whose source sends nothing for two ticks starts over
 * with another source (from offset 0), and one piece's round trip on a loaded machine can exceed
 * 20 ms — with a 10 ms tick one run (at 8b04e39) restarted 388 times and took 14 s instead of 0.2 s.
 */
const SHORT_TICK_MS = 50;

const rng: Rng = { nextU32: () => 4, nextFloat: () => 0.5, nextInt: () => 0, bytes: (n: number) => new Uint8Array(n) };

export interface TransferRun {
  readonly stateBytes: number;
  readonly stateTickMs: number;
  /** From the lagger's restart to the Ready that hands it the state, on the cores' clock (wall + idle skipped). */
  readonly elapsedMs: number;
  /** Wall-clock time the process worked during the transfer (elapsed minus skipped idle). */
  readonly wallMs: number;
  /** CPU time of the process during the transfer. */
  readonly cpuMs: number;
  /** Idle time the clock skipped: waiting for the next state tick (serving budget spent). */
  readonly idleMs: number;
  readonly height: bigint;
  /** `state` messages the lagger received, and how many of them were first pieces (> 1: an attempt restarted). */
  readonly pieces: number;
  readonly firstPieces: number;
  /** Bytes of the encoded `state` frames the lagger received. */
  readonly wireBytes: number;
}

interface Node {
  readonly id: NodeId;
  core: ProtocolCore<HotStuffMessage> | undefined;
  hardState: Uint8Array | undefined;
  log: LogRecord[];
  readonly timers: Map<string, number>;
  restore: { height: bigint; snapshot: Uint8Array } | undefined;
  /** Highest height handed out in a commit (or installed), kept across a crash. */
  committed: bigint;
}

/**
 * The synthetic application state at `height`: fixed pseudo-random bytes with the height in the
 * first 8. The states of the last RING snapshot heights live in RING buffers allocated once and
 * rewritten in place (a replica serves its last two), so setting up a run does not fault in a
 * fresh S-byte buffer for every snapshot.
 */
export class SyntheticState {
  private static readonly RING = 4;
  /** The bytes every state starts from (also what the ceilings are measured on). */
  readonly base: Uint8Array;
  private readonly ring: Uint8Array[] = [];
  private next = 0;
  private readonly byHeight = new Map<bigint, { data: Uint8Array; digest: Uint8Array }>();

  constructor(readonly size: number) {
    // Incompressible-looking bytes (a xorshift stream), in case a layer below ever compresses.
    this.base = new Uint8Array(size);
    const words = new Uint32Array(this.base.buffer, 0, size >>> 2);
    let s = 0x9e3779b9;
    for (let i = 0; i < words.length; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      words[i] = s >>> 0;
    }
  }

  /** The state after `height` and its real SHA-256, computed once and shared by the replicas (they agree on it). */
  at(height: bigint): { data: Uint8Array; digest: Uint8Array } {
    const known = this.byHeight.get(height);
    if (known) return known;
    let data = this.ring[this.next];
    if (data) {
      for (const [h, v] of this.byHeight) if (v.data === data) this.byHeight.delete(h);
      data.set(this.base);
    } else {
      data = this.base.slice();
      this.ring.push(data);
    }
    this.next = (this.next + 1) % SyntheticState.RING;
    new DataView(data.buffer, data.byteOffset).setBigUint64(0, height);
    const s = { data, digest: sha256Native.digest(data) };
    this.byHeight.set(height, s);
    return s;
  }
}

class Driver {
  readonly ids = ['r0', 'r1', 'r2', LAGGER];
  readonly nodes = new Map<NodeId, Node>();
  private readonly signers = new Map<NodeId, Signer>();
  private readonly validators;
  private readonly verifier = createVerifier();
  private queue: Array<{ from: NodeId; to: NodeId; bytes: Uint8Array }> = [];
  private head = 0;
  private readonly t0 = performance.now();
  /** Idle time skipped so far (the clock's lead over the wall clock). */
  skipped = 0;
  /** `state` frames delivered to the lagger. */
  piecesIn = 0;
  firstPiecesIn = 0;
  wireIn = 0;

  constructor(
    private readonly app: SyntheticState,
    private readonly stateTickMs: number,
  ) {
    const list = this.ids.map((id, i) => {
      const kp = generateKeyPair('ed25519', { seed: new Uint8Array(32).fill(i + 1) });
      this.signers.set(id, signerFromSecret(kp.secretKey, 'ed25519'));
      return { id, publicKey: kp.publicKey, power: 1 };
    });
    this.validators = createValidatorSet(list);
    for (const id of this.ids) this.nodes.set(id, { id, core: undefined, hardState: undefined, log: [], timers: new Map(), restore: undefined, committed: 0n });
    for (const id of this.ids) this.start(id);
  }

  now(): number {
    return performance.now() - this.t0 + this.skipped;
  }

  start(id: NodeId): void {
    const node = this.nodes.get(id)!;
    const recovered: RecoveredState | undefined = node.hardState || node.log.length > 0 ? { hardState: node.hardState, log: node.log, appliedHeight: 0n } : undefined;
    node.core = hotstuff.create(
      { self: id, validators: this.validators, signer: this.signers.get(id)!, verifier: this.verifier, rng },
      {
        chainId: 'bench',
        // No view change while the cluster idles: the transfer is all that runs.
        baseTimeoutMs: 3_600_000,
        syncWindow: SYNC_WINDOW,
        snapshotInterval: SNAPSHOT_INTERVAL,
        stateTickMs: this.stateTickMs,
        stateChunkBytes: MiB,
        hasher: sha256Native,
      },
      recovered,
    );
    this.flush(id);
  }

  /** Takes a replica down: what it stored stays, its timers go, and messages to it are dropped until it restarts. */
  crash(id: NodeId): void {
    const node = this.nodes.get(id)!;
    node.core = undefined;
    node.timers.clear();
  }

  request(ids: readonly NodeId[], seq: number): void {
    for (const id of ids) {
      this.nodes.get(id)!.core?.step({ type: 'request', request: { client: 'c', seq: BigInt(seq), payload: utf8.encode(`put k${seq}`) } });
      this.flush(id);
    }
  }

  committedHeight(id: NodeId): bigint {
    return this.nodes.get(id)!.committed;
  }

  private flush(id: NodeId): void {
    const node = this.nodes.get(id)!;
    const core = node.core;
    if (!core) return;
    while (core.hasReady()) {
      const r = core.ready();
      if (r.persist) persistInto(node, r.persist, id);
      for (const s of r.send) {
        // Encoded once per message, as a transport does for a broadcast.
        const bytes = hotstuffCodec.encode(s.msg);
        for (const to of s.to === 'all' ? this.ids.filter((x) => x !== id) : [s.to]) {
          if (this.nodes.get(to)!.core) this.queue.push({ from: id, to, bytes });
        }
      }
      if (r.restore) {
        node.restore = { height: r.restore.height, snapshot: r.restore.snapshot };
        node.committed = r.restore.height;
      }
      for (const c of r.commit) {
        if (c.height > node.committed) node.committed = c.height;
        if (!c.reportState) continue;
        // The runtime stores the application state of that height, then tells the core.
        const s = this.app.at(c.height);
        core.step({ type: 'applied', height: c.height, stateDigest: s.digest, snapshot: s.data });
      }
      for (const t of r.timers) {
        if (t.op === 'set') node.timers.set(t.id, this.now() + t.ms);
        else node.timers.delete(t.id);
      }
    }
  }

  private nextTimer(): { node: Node; timer: string; at: number } | undefined {
    let best: { node: Node; timer: string; at: number } | undefined;
    for (const node of this.nodes.values()) {
      if (!node.core) continue;
      for (const [timer, at] of node.timers) if (!best || at < best.at) best = { node, timer, at };
    }
    return best;
  }

  /**
   * Runs until `done()`: a due timer first, else the next message, else the clock skips to the
   * next timer — but not past `idleLimitMs` of skipped time (false: it gave up), and only when
   * `idle` allows it (else it stops as soon as nothing is queued).
   */
  run(done: () => boolean, opts: { idle: boolean; idleLimitMs?: number } = { idle: false }): boolean {
    const limit = this.skipped + (opts.idleLimitMs ?? 120_000);
    while (!done()) {
      const t = this.nextTimer();
      const now = this.now();
      if (t && t.at <= now) {
        t.node.timers.delete(t.timer);
        t.node.core!.step({ type: 'timeout', timer: t.timer });
        this.flush(t.node.id);
        continue;
      }
      if (this.head < this.queue.length) {
        const e = this.queue[this.head++]!;
        if (this.head > 4096) {
          this.queue = this.queue.slice(this.head);
          this.head = 0;
        }
        const node = this.nodes.get(e.to)!;
        if (!node.core) continue;
        const msg = hotstuffCodec.decode(e.bytes);
        if (msg.type === 'state' && e.to === LAGGER) {
          this.piecesIn++;
          this.wireIn += e.bytes.length;
          if (msg.offset === 0) this.firstPiecesIn++;
        }
        node.core.step({ type: 'message', from: e.from, msg });
        this.flush(e.to);
        continue;
      }
      if (!opts.idle || !t || this.skipped + (t.at - now) > limit) return false;
      this.skipped += t.at - now;
    }
    return true;
  }
}

/** One transfer of a `stateBytes` state to a lagging replica, with the given state tick. */
export function runStateTransfer(opts: { stateBytes: number; stateTickMs: number; app?: SyntheticState }): TransferRun {
  const app = opts.app ?? new SyntheticState(opts.stateBytes);
  if (app.size !== opts.stateBytes) throw new RangeError(`the synthetic state has ${app.size} bytes, not ${opts.stateBytes}`);
  const d = new Driver(app, opts.stateTickMs);
  const all = d.ids;
  const live = all.filter((id) => id !== LAGGER);
  // Two commands with everyone (so the lagger has a log to restart from), then the lagger goes
  // down while the others commit five sync windows more.
  let seq = 0;
  const commitOne = (ids: readonly NodeId[]): void => {
    const target = d.committedHeight(ids[0]!) + 1n;
    d.request(ids, ++seq);
    if (!d.run(() => ids.every((id) => d.committedHeight(id) >= target))) throw new Error(`setup: height ${target} not committed by ${ids.join(',')}`);
  };
  for (let i = 0; i < 2; i++) commitOne(all);
  d.crash(LAGGER);
  while (d.committedHeight('r0') < BigInt(5 * SYNC_WINDOW)) commitOne(live);
  d.run(() => false); // deliver what is in flight (the last checkpoints), then idle
  const behind = d.committedHeight('r0') - d.committedHeight(LAGGER);
  if (behind < BigInt(4 * SYNC_WINDOW)) throw new Error(`setup: the lagger is only ${behind} blocks behind`);

  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const lagger = d.nodes.get(LAGGER)!;
  const skipped0 = d.skipped;
  const clock0 = d.now();
  const wall0 = performance.now();
  const cpu0 = process.cpuUsage();
  d.start(LAGGER);
  const ok = d.run(() => lagger.restore !== undefined, { idle: true });
  const wallMs = performance.now() - wall0;
  const cpu = process.cpuUsage(cpu0);
  const elapsedMs = d.now() - clock0;
  if (!ok || !lagger.restore) throw new Error(`state transfer did not complete (${d.piecesIn} pieces received)`);
  // Installed what the others hold at that height, byte for byte.
  const expected = app.at(lagger.restore.height);
  if (!bytesEqual(lagger.restore.snapshot, expected.data)) throw new Error('the installed state differs from the served one');
  if (lagger.restore.height % BigInt(SNAPSHOT_INTERVAL) !== 0n || lagger.restore.height < BigInt(4 * SYNC_WINDOW)) throw new Error(`installed at unexpected height ${lagger.restore.height}`);
  return {
    stateBytes: opts.stateBytes,
    stateTickMs: opts.stateTickMs,
    elapsedMs,
    wallMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    idleMs: d.skipped - skipped0,
    height: lagger.restore.height,
    pieces: d.piecesIn,
    firstPieces: d.firstPiecesIn,
    wireBytes: d.wireIn,
  };
}

/** Encode + decode of `state` as 1 MiB `state` messages, as a transfer sends them (the first with a stand-in certificate). */
function codecPass(state: Uint8Array): number {
  let n = 0;
  for (let offset = 0; offset < state.length; offset += MiB) {
    const data = state.subarray(offset, offset + MiB);
    const msg: HotStuffMessage = { type: 'state', height: 4n, offset, total: state.length, data };
    // The first piece must carry a certificate; a dummy one of realistic size keeps the codec happy.
    const m = offset === 0 ? { ...msg, cert: DUMMY_CERT } : msg;
    const back = hotstuffCodec.decode(hotstuffCodec.encode(m));
    if (back.type === 'state') n += back.data.length;
  }
  return n;
}

const DUMMY_CERT = {
  block: new Uint8Array(32),
  state: new Uint8Array(32),
  votes: [0, 1].map((i) => ({ voter: `r${i}`, signature: new Uint8Array(64) })),
  proof: new Uint8Array(2048),
};

/**
 * Measures the transfer (default tick and a short one, median of a few runs each) and its
 * ceilings (median pass), and adds the records. The machine may be shared: medians, CPU time
 * and the load average go with every figure.
 */
export function benchStateTransfer(add: (r: BenchRecord) => void): void {
  const q = quick();
  const S = sized(8 * MiB, 64 * MiB);
  const MB = S / 1e6;
  const app = new SyntheticState(S);
  const state = app.base;

  const opts = { minTimeMs: sized(300, 2000), warmupMs: sized(50, 200), batch: 1 };
  const sha = measure(() => sha256Native.digest(state), opts);
  const codec = measure(() => codecPass(state), opts);
  // Seconds per pass, from the median sample (one pass each): steadier than the mean on a shared machine.
  const shaS = 1 / sha.samples.p50;
  const codecS = 1 / codec.samples.p50;
  const common = { stateMiB: S / MiB, pieceMiB: 1, quick: q };
  const ms = (s: number): number => +(s * 1000).toFixed(1);
  add({ suite: 'hotstuff/state-transfer', name: 'SHA-256 (native) over the state', value: MB / shaS, unit: 'MB/s', params: { ...common, ms: ms(shaS), passes: sha.ops }, better: 'higher' });
  add({ suite: 'hotstuff/state-transfer', name: 'codec encode+decode of the state as 1 MiB state messages', value: MB / codecS, unit: 'MB/s', params: { ...common, ms: ms(codecS), passes: codec.ops }, better: 'higher' });
  // The least a transfer in one process does: every piece encoded and decoded, the whole hashed once.
  const ceilingName = 'SHA-256 + codec encode/decode of the state, no protocol (same run)';
  const ceilingMBs: Ceiling = { name: ceilingName, value: MB / (shaS + codecS), unit: 'MB/s' };
  const ceilingS: Ceiling = { name: ceilingName, value: shaS + codecS, unit: 's' };

  const runs = 3;
  for (const tick of [1000, SHORT_TICK_MS]) {
    const rs = Array.from({ length: runs }, () => runStateTransfer({ stateBytes: S, stateTickMs: tick, app }));
    const r = [...rs].sort((a, b) => a.elapsedMs - b.elapsedMs)[runs >> 1]!;
    const params = {
      ...common,
      n: 4,
      crypto: 'ed25519',
      stateTickMs: tick,
      runs,
      height: Number(r.height),
      wallMs: +r.wallMs.toFixed(1),
      cpuMs: +r.cpuMs.toFixed(1),
      idleMs: +r.idleMs.toFixed(1),
      pieces: r.pieces,
      restarts: Math.max(...rs.map((x) => x.firstPieces - 1)),
      load1: +loadavg()[0]!.toFixed(1),
    };
    const budget = (PIECES_PER_TICK * MiB) / 1e6 / (tick / 1000);
    const binds = S > PIECES_PER_TICK * MiB;
    const claim =
      tick === 1000
        ? `default tick: the serving budget (${PIECES_PER_TICK} pieces of 1 MiB per peer per 1000 ms tick) bounds the rate at ${budget.toFixed(1)} MB/s (32 MiB/s)${binds ? '' : `; a state of ${S / MiB} MiB fits one tick's budget`}`
        : `short tick: the serving budget allows ${budget.toFixed(0)} MB/s, so processing bounds the rate`;
    add({ suite: 'hotstuff/state-transfer', name: `fetch and install, stateTickMs=${tick}`, value: MB / (r.elapsedMs / 1000), unit: 'MB/s', params, ceiling: ceilingMBs, claim, better: 'higher' });
    add({ suite: 'hotstuff/state-transfer', name: `fetch and install time, stateTickMs=${tick}`, value: r.elapsedMs / 1000, unit: 's', params, ceiling: ceilingS, better: 'lower' });
  }
}

// Standalone (`node --import tsx bench/state-transfer.ts`): prints the figures, writes no part.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rec = createRecorder('@phalanx/hotstuff');
  benchStateTransfer((r) => void rec.add(r));
}
