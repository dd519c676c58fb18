/**
 * HotStuff benchmark: n replicas in ONE process, messages routed in memory (objects, no codec),
 * real Ed25519 from @phalanx/crypto, each replica applying commits to the reference KV.
 * Every figure sits beside its ceiling measured in the same run (DESIGN §10): the unreplicated
 * KV apply rate and the raw Ed25519 verify rate. PHALANX_BENCH_QUICK=1 for a few-second run.
 * State transfer (bench/state-transfer.ts): a lagging replica fetching and installing a state,
 * beside SHA-256 and codec encode/decode of the same bytes.
 */
import { createRecorder, kvPutOfSize, measure, measureUnreplicatedKv, quick, ReferenceKv, sized, unreplicatedKvCeiling } from '@phalanx/bench-kit';
import type { BenchRecord } from '@phalanx/bench-kit';
import { createVerifier, generateKeyPair, sha256Native, signerFromSecret } from '@phalanx/crypto';
import { aggregateSignatures, fastAggregateVerify, keygen, popProve, registerPublicKey, seededRng, selectBackend, sign as blsSign, verify as blsVerify } from '@phalanx/threshold';
import type { PopVerifiedKey } from '@phalanx/threshold';
import { loadavg } from 'node:os';
import type { ClientRequest, ProtocolCore, Signer, Verifier } from '@phalanx/interface';
import { createValidatorSet } from '@phalanx/quorum';
import { concatBytes, toHex, utf8 } from '@phalanx/codec';
import { sha256 } from '@noble/hashes/sha2.js';
import { blsAggregateScheme, hotstuff } from '../src/index.js';
import type { CertificateSchemeFactory, HotStuffConfig, HotStuffMessage } from '../src/index.js';
import { benchStateTransfer } from './state-transfer.js';

type Mode = 'ed25519' | 'ed25519-cached' | 'ml-dsa-44' | 'bls-aggregate' | 'no-crypto';

const rng = { nextU32: () => 4, nextFloat: () => 0.5, nextInt: () => 0, bytes: (n: number) => new Uint8Array(n) };

/** A process-wide verified-signature cache, as a runtime may put in front of its Verifier. */
function cached(v: Verifier): Verifier {
  const seen = new Set<string>();
  return {
    verify(pk, m, s) {
      const k = toHex(s) + toHex(sha256(concatBytes(pk, m)));
      if (seen.has(k)) return true;
      const ok = v.verify(pk, m, s);
      if (ok) {
        if (seen.size > 100_000) seen.clear();
        seen.add(k);
      }
      return ok;
    },
  };
}

interface Run {
  blocks: number;
  ops: number;
  ms: number;
  /** CPU time the process used (the machine may be shared: wall time alone can mislead). */
  cpuMs: number;
  rssMb: number;
}

function runCluster(n: number, mode: Mode, opts: { blocks: number; blockSize: number; rssAt?: number[] }): Run & { rss: Map<number, number> } {
  const ids = Array.from({ length: n }, (_, i) => `v${i}`);
  const signers = new Map<string, Signer>();
  const scheme = mode === 'ml-dsa-44' ? 'ml-dsa-44' : 'ed25519';
  let verifier: Verifier = createVerifier();
  const list = ids.map((id, i) => {
    if (mode === 'no-crypto') {
      const pk = sha256(utf8.encode(id));
      signers.set(id, { scheme: 'ed25519', publicKey: pk, sign: (m) => sha256(concatBytes(pk, m)) });
      return { id, publicKey: pk, power: 1 };
    }
    const kp = generateKeyPair(scheme, { seed: new Uint8Array(32).fill(i + 1) });
    signers.set(id, signerFromSecret(kp.secretKey, scheme));
    return { id, publicKey: kp.publicKey, power: 1 };
  });
  if (mode === 'no-crypto') verifier = { verify: (pk, m, s) => toHex(sha256(concatBytes(pk, m))) === toHex(s) };
  if (mode === 'ed25519-cached' || mode === 'bls-aggregate') verifier = cached(verifier);
  const validators = createValidatorSet(list);
  let certFor: ((id: string) => CertificateSchemeFactory) | undefined;
  if (mode === 'bls-aggregate') {
    const r = seededRng(new Uint8Array(32).fill(3));
    const keys = new Map(ids.map((id) => [id, keygen(r)]));
    const registered = new Map<string, PopVerifiedKey>();
    for (const k of keys.values()) registered.set(toHex(k.publicKey), registerPublicKey(k.publicKey, popProve(k.secretKey)));
    const publicKeys = new Map(ids.map((id) => [id, keys.get(id)!.publicKey]));
    const seen = new Set<string>();
    const bls = {
      sign: blsSign,
      verify: (pk: Uint8Array, m: Uint8Array, s: Uint8Array) => {
        const k = toHex(pk) + toHex(s);
        if (seen.has(k)) return true;
        const ok = blsVerify(pk, m, s);
        if (ok) seen.add(k);
        return ok;
      },
      aggregate: aggregateSignatures,
      verifyAggregate: (pks: readonly Uint8Array[], m: Uint8Array, s: Uint8Array) => {
        const k = toHex(s);
        if (seen.has(k)) return true;
        const ok = fastAggregateVerify(pks.map((pk) => registered.get(toHex(pk))!), m, s);
        if (ok) seen.add(k);
        return ok;
      },
    };
    certFor = (id) => blsAggregateScheme({ bls, publicKeys, secretKey: keys.get(id)!.secretKey });
  }
  const config = (id: string): HotStuffConfig => ({
    chainId: 'bench',
    baseTimeoutMs: 3_600_000,
    maxBlockCommands: opts.blockSize,
    syncWindow: 64,
    // No state snapshots: this measures ordering, and the loop below never answers `applied`.
    // (The default interval, 1000, is above this window, which the core refuses.)
    snapshotInterval: 0,
    // The runtime injects the native SHA-256 (node:crypto, ~6x noble on large blocks, DESIGN §5).
    hasher: sha256Native,
    ...(certFor ? { certificates: certFor(id) } : {}),
  });
  const cores: ProtocolCore<HotStuffMessage>[] = ids.map((id) =>
    hotstuff.create({ self: id, validators, signer: signers.get(id)!, verifier, rng }, config(id)),
  );
  const kvs = ids.map(() => new ReferenceKv());
  const queue: Array<{ to: number; from: string; msg: HotStuffMessage }> = [];
  let committedBlocks = 0;
  let committedOps = 0;
  const rss = new Map<number, number>();
  const rssAt = new Set(opts.rssAt ?? []);
  const drain = (i: number): void => {
    const core = cores[i]!;
    while (core.hasReady()) {
      const r = core.ready();
      for (const s of r.send) {
        if (s.to === 'all') {
          for (let j = 0; j < n; j++) if (j !== i) queue.push({ to: j, from: ids[i]!, msg: s.msg });
        } else queue.push({ to: ids.indexOf(s.to), from: ids[i]!, msg: s.msg });
      }
      for (const c of r.commit) {
        kvs[i]!.apply(c.requests, { height: c.height });
        if (i === 0) {
          committedBlocks++;
          committedOps += c.requests.length;
          if (rssAt.has(committedBlocks)) {
            (globalThis as { gc?: () => void }).gc?.();
            rss.set(committedBlocks, process.memoryUsage()[process.env.HS_MEM_FIELD === "heap" ? "heapUsed" : "rss"] / 2 ** 20);
          }
        }
      }
    }
  };
  let seq = 0n;
  let submitted = 0;
  const payloads = Array.from({ length: 1024 }, (_, i) => kvPutOfSize(i, 100));
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  while (committedBlocks < opts.blocks) {
    // Keep about three blocks' worth of commands pending (client load), submitted in batches to one replica.
    if (submitted - committedOps < 3 * opts.blockSize && opts.blockSize > 0) {
      for (let k = 0; k < opts.blockSize; k++) {
        seq++;
        const request: ClientRequest = { client: 'c', seq, payload: payloads[Number(seq % 1024n)]! };
        cores[0]!.step({ type: 'request', request });
      }
      submitted += opts.blockSize;
      drain(0);
    } else if (opts.blockSize === 0 && submitted === 0) {
      cores[0]!.step({ type: 'request', request: { client: 'c', seq: 1n, payload: payloads[0]! } });
      submitted = 1;
      drain(0);
    }
    if (queue.length === 0) {
      if (opts.blockSize === 0) break;
      continue;
    }
    // Deliver everything queued, FIFO.
    const batch = queue.splice(0, queue.length);
    for (const e of batch) {
      cores[e.to]!.step({ type: 'message', from: e.from, msg: e.msg });
      drain(e.to);
    }
  }
  const ms = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  return { blocks: committedBlocks, ops: committedOps, ms, cpuMs: (cpu.user + cpu.system) / 1000, rssMb: process.memoryUsage().rss / 2 ** 20, rss };
}

async function main(): Promise<void> {
  await selectBackend();
  const rec = createRecorder('@phalanx/hotstuff');
  const add = (r: BenchRecord): void => {
    rec.add(r);
  };
  const q = quick();
  const kv = measureUnreplicatedKv({ commandBytes: 100 });
  const kvCeiling = unreplicatedKvCeiling(kv);
  // Raw verify rate (the crypto ceiling), same run.
  const kp = generateKeyPair('ed25519', { seed: new Uint8Array(32).fill(1) });
  const signer = signerFromSecret(kp.secretKey, 'ed25519');
  const msgs = Array.from({ length: 64 }, (_, i) => utf8.encode(`vote ${i}`));
  const sigs = msgs.map((m) => signer.sign(m));
  const v = createVerifier();
  const verifyRate = measure((i) => v.verify(kp.publicKey, msgs[i & 63]!, sigs[i & 63]!), { minTimeMs: sized(100, 1000) });
  const verifyCeiling = { name: 'Ed25519 verify (native, one core)', value: verifyRate.opsPerSec, unit: 'verifies/s' };
  add({ suite: 'hotstuff/crypto', name: 'Ed25519 verify', value: verifyRate.opsPerSec, unit: 'verifies/s', params: { quick: q }, better: 'higher' });

  const blockSize = 1000;
  // Quick mode (`pnpm bench --quick` has one minute for everything) keeps n = 4 and 7; apps/bench adds n = 16.
  const sizes = q ? [4, 7] : [4, 7, 16, 31, 64];
  for (const mode of ['ed25519', 'ed25519-cached', 'no-crypto'] as Mode[]) {
    for (const n of sizes) {
      const blocks = Math.max(6, Math.round((q ? 8 : 200) / Math.max(1, n / 4)));
      const r = runCluster(n, mode, { blocks, blockSize });
      const params = { protocol: 'hotstuff', n, crypto: mode, blockSize, blocks: r.blocks, cpuMsPerBlock: +(r.cpuMs / r.blocks).toFixed(2), load1: +loadavg()[0]!.toFixed(1), quick: q };
      add({ suite: 'cluster/memory', name: `hotstuff ${mode} committed ops/s`, value: (r.ops / r.ms) * 1000, unit: 'ops/s', params, ceiling: kvCeiling, ...(n === 4 && mode !== 'no-crypto' ? { claim: 'target n=4: ≥ 100,000 ops/s' } : {}), better: 'higher' });
      add({ suite: 'cluster/memory', name: `hotstuff ${mode} blocks/s`, value: (r.blocks / r.ms) * 1000, unit: 'blocks/s', params, ...(n === 4 && mode !== 'no-crypto' ? { claim: 'target n=4: ≥ 2,000 blocks/s' } : {}), better: 'higher' });
    }
  }
  // Blocks/s with tiny blocks (1 command): the per-block cost with real signatures.
  for (const mode of ['ed25519', 'ed25519-cached'] as Mode[]) {
    const r = runCluster(4, mode, { blocks: sized(40, 2000), blockSize: 1 });
    add({ suite: 'cluster/memory', name: `hotstuff ${mode} blocks/s (1-command blocks)`, value: (r.blocks / r.ms) * 1000, unit: 'blocks/s', params: { protocol: 'hotstuff', n: 4, crypto: mode, blockSize: 1, cpuMsPerBlock: +(r.cpuMs / r.blocks).toFixed(3), load1: +loadavg()[0]!.toFixed(1), quick: q }, ceiling: verifyCeiling, claim: 'target n=4: ≥ 2,000 blocks/s', better: 'higher' });
  }
  // Other certificate modes.
  const otherModes: Array<[Mode, number]> = q ? [['ml-dsa-44', 4], ['bls-aggregate', 4]] : [['ml-dsa-44', 4], ['bls-aggregate', 4], ['bls-aggregate', 16]];
  for (const [mode, n] of otherModes) {
    const r = runCluster(n, mode, { blocks: sized(4, 30), blockSize });
    add({ suite: 'cluster/memory', name: `hotstuff ${mode} committed ops/s`, value: (r.ops / r.ms) * 1000, unit: 'ops/s', params: { protocol: 'hotstuff', n, crypto: mode, blockSize, blocks: r.blocks, quick: q }, ceiling: kvCeiling, better: 'higher' });
    add({ suite: 'cluster/memory', name: `hotstuff ${mode} blocks/s`, value: (r.blocks / r.ms) * 1000, unit: 'blocks/s', params: { protocol: 'hotstuff', n, crypto: mode, blockSize, quick: q }, better: 'higher' });
  }
  // Memory: resident size after 10x more committed blocks (pruning keeps the core bounded).
  const small = sized(110, 10_000); // quick: 1,100 blocks is still past the 1,024-block sync window
  const large = small * 10;
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const r = runCluster(4, 'no-crypto', { blocks: large, blockSize: 1, rssAt: [small, large] });
  gc?.();
  const a = r.rss.get(small) ?? r.rssMb;
  const b = r.rss.get(large) ?? r.rssMb;
  add({ suite: 'hotstuff/memory', name: `RSS after ${small} committed blocks`, value: a, unit: 'MiB', params: { n: 4, blocks: small, quick: q }, better: 'lower' });
  add({ suite: 'hotstuff/memory', name: `RSS after ${large} committed blocks`, value: b, unit: 'MiB', params: { n: 4, blocks: large, quick: q }, ceiling: { name: `RSS after ${small} blocks`, value: a, unit: 'MiB' }, claim: 'bounded: about the same as after 10x fewer blocks', better: 'lower' });
  // State transfer: a replica beyond the sync window fetching a 64 MiB state (8 MiB quick).
  benchStateTransfer(add);
  rec.write();
}

if (!process.env.HS_NO_MAIN) await main();
export { runCluster };
