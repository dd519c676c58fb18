/**
 * PBFT in one process: n cores driven directly (messages passed as objects, no network, no disk),
 * real Ed25519 from @phalanx/crypto, 100-byte KV puts applied to the reference KV on every replica.
 * Reports committed ops/s beside the unreplicated state machine (the ceiling) and the raw
 * Ed25519 verify rate, and p50 commit latency at light load (one request at a time).
 * All replicas share ONE core here, so latency is the sum of every replica's work on the path.
 */
import { performance } from 'node:perf_hooks';
import type { ClientRequest, NodeId } from '@phalanx/interface';
import { createValidatorSet } from '@phalanx/quorum';
import { createHasher, createVerifier, generateKeyPair, signerFromSecret } from '@phalanx/crypto';
import {
  ReferenceKv,
  createRecorder,
  kvPutOfSize,
  latencyRecorder,
  latencyRecords,
  measure,
  measureUnreplicatedKv,
  quick,
  sized,
  unreplicatedKvCeiling,
} from '@phalanx/bench-kit';
import { PbftCore } from '../src/index.js';
import type { PbftMessage } from '../src/index.js';

const hasher = createHasher('sha256');
const verifier = createVerifier();

interface Cluster {
  ids: NodeId[];
  cores: Map<NodeId, PbftCore>;
  kvs: Map<NodeId, ReferenceKv>;
  queue: { from: NodeId; to: NodeId; msg: PbftMessage }[];
  committed: Map<NodeId, number>;
}

function cluster(n: number): Cluster {
  const keys = Array.from({ length: n }, (_, i) => {
    const seed = new Uint8Array(32).fill(i + 1);
    const kp = generateKeyPair('ed25519', { seed });
    return { id: `r${i}`, signer: signerFromSecret(kp.secretKey), publicKey: kp.publicKey };
  });
  const validators = createValidatorSet(keys.map((k) => ({ id: k.id, publicKey: k.publicKey, power: 1 })));
  const rng = { nextU32: () => 4, nextFloat: () => 0.5, nextInt: () => 0, bytes: (l: number) => new Uint8Array(l) };
  const c: Cluster = { ids: keys.map((k) => k.id), cores: new Map(), kvs: new Map(), queue: [], committed: new Map() };
  for (const k of keys) {
    const core = new PbftCore(
      { self: k.id, validators, signer: k.signer, verifier, rng },
      { hasher, maxBatchSize: 1024, pipelineDepth: 2, statusIntervalMs: 0, retransmitMs: 1_000_000, viewChangeTimeoutMs: 1_000_000 },
    );
    c.cores.set(k.id, core);
    c.kvs.set(k.id, new ReferenceKv());
    c.committed.set(k.id, 0);
  }
  for (const id of c.ids) drain(c, id);
  return c;
}

function drain(c: Cluster, id: NodeId): void {
  const core = c.cores.get(id)!;
  while (core.hasReady()) {
    const r = core.ready();
    for (const o of r.send) {
      if (o.to === 'all') {
        for (const to of c.ids) if (to !== id) c.queue.push({ from: id, to, msg: o.msg });
      }
      else c.queue.push({ from: id, to: o.to, msg: o.msg });
    }
    const kv = c.kvs.get(id)!;
    for (const b of r.commit) {
      kv.apply(b.requests as ClientRequest[]);
      c.committed.set(id, c.committed.get(id)! + b.requests.length);
      if (b.reportState) {
        const snap = kv.snapshot();
        core.step({ type: 'applied', height: b.height, stateDigest: hasher.digest(snap), snapshot: snap });
      }
    }
  }
}

function pump(c: Cluster, done: () => boolean): void {
  let i = 0;
  while (!done()) {
    const m = c.queue[i++];
    if (!m) {
      c.queue.length = 0;
      i = 0;
      if (done()) return;
      throw new Error('cluster stalled');
    }
    const core = c.cores.get(m.to)!;
    core.step({ type: 'message', from: m.from, msg: m.msg });
    drain(c, m.to);
    if (i > 65536) {
      c.queue.splice(0, i);
      i = 0;
    }
  }
  c.queue.splice(0, i);
}

let clientSeq = 0n;
function submit(c: Cluster, count: number, payloads: Uint8Array[]): void {
  const primary = c.cores.get(c.ids[0]!)!;
  for (let i = 0; i < count; i++) {
    const request: ClientRequest = { client: 'bench', seq: clientSeq++, payload: payloads[i % payloads.length]! };
    primary.step({ type: 'request', request });
  }
  drain(c, c.ids[0]!);
}

function throughput(n: number, total: number, payloads: Uint8Array[]): number {
  const c = cluster(n);
  const all = () => c.ids.every((id) => c.committed.get(id)! >= target);
  let target = Math.min(2048, total);
  submit(c, target, payloads); // warm-up
  pump(c, all);
  const base = target;
  const t0 = performance.now();
  // Keep the primary's queue fed in chunks so batches fill up, as a loaded client population would.
  const chunk = 4096;
  for (let sent = 0; sent < total; sent += chunk) {
    submit(c, Math.min(chunk, total - sent), payloads);
    target = base + Math.min(sent + chunk, total);
    pump(c, () => c.ids.every((id) => c.committed.get(id)! >= target - chunk) || c.queue.length === 0);
  }
  target = base + total;
  pump(c, all);
  const elapsed = performance.now() - t0;
  if (process.env.PBFT_BENCH_DEBUG) console.error(`n=${n} total=${total} ms=${elapsed.toFixed(0)} height=${c.cores.get(c.ids[0]!)!.status().committedHeight}`);
  return (total / elapsed) * 1000;
}

function latency(n: number, samples: number, payloads: Uint8Array[]) {
  const c = cluster(n);
  const f = Math.floor((n - 1) / 3);
  const rec = latencyRecorder();
  let target = 0;
  // A client accepts on f+1 matching replies: latency until f+1 replicas committed.
  const enough = () => c.ids.filter((id) => c.committed.get(id)! >= target).length >= f + 1;
  for (let i = 0; i < samples + 20; i++) {
    target++;
    const t0 = performance.now();
    submit(c, 1, payloads);
    pump(c, enough);
    if (i >= 20) rec.record(performance.now() - t0);
    pump(c, () => c.ids.every((id) => c.committed.get(id)! >= target) || c.queue.length === 0);
  }
  return rec.summary();
}

const rec = createRecorder('@phalanx/pbft');
const payloads = Array.from({ length: 1024 }, (_, i) => kvPutOfSize(i, 100));
const kv = measureUnreplicatedKv({ commandBytes: 100 });
const ceiling = unreplicatedKvCeiling(kv);
const kp = generateKeyPair('ed25519', { seed: new Uint8Array(32).fill(9) });
const signer = signerFromSecret(kp.secretKey);
const msg = new Uint8Array(120).fill(3);
const sig = signer.sign(msg);
const verify = measure(() => verifier.verify(kp.publicKey, msg, sig), { minTimeMs: sized(100, 1000) });
rec.add({
  suite: 'pbft/one-process',
  name: 'Ed25519 verify (native, raw)',
  value: verify.opsPerSec,
  unit: 'ops/s',
  params: { quick: quick() },
  claim: '7.8k/s with a cached KeyObject (DESIGN §5)',
  better: 'higher',
});
const sizes = process.env.PBFT_BENCH_N ? process.env.PBFT_BENCH_N.split(',').map(Number) : quick() ? [4, 7] : [4, 7, 16, 31];
for (const n of sizes) {
  const total = quick() ? 4_096 : n <= 7 ? 100_000 : 20_480;
  const ops = throughput(n, total, payloads);
  rec.add({
    suite: 'pbft/one-process',
    name: 'committed ops/s (100 B puts, real Ed25519)',
    value: ops,
    unit: 'ops/s',
    params: { n, batch: 1024, quick: quick() },
    ceiling,
    ...(n === 4 ? { claim: 'target ≥ 50,000 ops/s at n=4' } : {}),
    better: 'higher',
  });
  if (process.env.PBFT_BENCH_DEBUG === 'throughput') continue;
  const lat = latency(n, quick() ? 30 : n <= 7 ? 300 : 60, payloads);
  for (const r of latencyRecords({ suite: 'pbft/one-process', name: 'commit latency, light load (all replicas on one core)', params: { n, quick: quick() } }, lat)) rec.add(r);
}
rec.write();
