/**
 * Benchmarks for @phalanx/threshold (`pnpm --filter @phalanx/threshold bench`).
 * Figures: raw single BLS verify (noble and blst: the ceiling every combine+verify is judged
 * against), threshold combine (interpolation only) and combine+verify for 3-of-5, 7-of-10 and
 * 67-of-100, and the CPU time of a whole in-process DKG (n=16, t=5). PHALANX_BENCH_QUICK=1 keeps
 * it to a few seconds (small sizes only).
 */
import { createRecorder, measure, quick, sized } from '@phalanx/bench-kit';
import type { BenchRecord } from '@phalanx/bench-kit';
import {
  combineSignatures,
  DkgParty,
  keygen,
  loadBlstBackend,
  nobleBackend,
  seededRng,
  setBackend,
  sign,
  signShare,
  trustedDealerKeys,
  DST_SIG_POP,
} from '../src/index.js';
import type { BlsBackend, DkgMessage, SignatureShare } from '../src/index.js';
import { interpolateSignatures } from '../src/threshold.js';
import { clearPointCaches } from '../src/points.js';

// Noble memoises hashes to G2 and decoded signatures; a real message and its shares are seen
// fresh, so every timed call starts cold (public keys stay cached, as they would in a validator).
const cold = () => clearPointCaches({ hash: true, g2: true });

const rec = createRecorder('@phalanx/threshold');
const add = (r: BenchRecord) => rec.add(r);
const q = quick();
const utf8 = (s: string) => new TextEncoder().encode(s);
const blst = await loadBlstBackend();
const backends: BlsBackend[] = blst ? [blst, nobleBackend] : [nobleBackend];
const slow = { batch: 1, warmupMs: 0, minTimeMs: sized(100, 2000), maxSamples: sized(2, 30) };

// --- raw single verify: the ceiling -----------------------------------------------------------
const msg = utf8('phalanx bench message');
const kp = keygen(seededRng('bench'));
const sig = sign(kp.secretKey, msg);
const verifyMs: Record<string, number> = {};
for (const b of backends) {
  const m = measure(() => {
    cold();
    return b.verify(kp.publicKey, msg, sig, DST_SIG_POP);
  }, b.name === 'blst' ? { minTimeMs: sized(100, 1000) } : slow);
  verifyMs[b.name] = m.msPerOp;
  add({
    suite: 'threshold/bls',
    name: `single verify (${b.name})`,
    value: m.opsPerSec,
    unit: 'ops/s',
    params: { backend: b.name, quick: q },
    claim: b.name === 'blst' ? '1.2 ms/verify with @chainsafe/blst (DESIGN §5)' : '38 ms/verify in noble (DESIGN §5)',
    better: 'higher',
  });
}
const best = blst ? 'blst' : 'noble';

// --- threshold combine ------------------------------------------------------------------------
const sizes: [number, number][] = q ? [[3, 5], [7, 10]] : [[3, 5], [7, 10], [67, 100]];
for (const [k, n] of sizes) {
  const t = k - 1;
  const { publicKey, shares } = trustedDealerKeys(t, n, seededRng(`bench/${k}/${n}`));
  const m = utf8(`block ${k}-of-${n}`);
  // Consecutive indices 1..k (short integer Lagrange coefficients) and an arbitrary spread-out subset.
  const spread = Array.from({ length: k }, (_, i) => Math.floor((i * n) / k) + 1).reverse();
  const needed = new Set([...Array.from({ length: k }, (_, i) => i + 1), ...spread]);
  const sigShares = new Map<number, SignatureShare>();
  for (const i of needed) sigShares.set(i, signShare(shares[i - 1]!, m));
  const subsets: [string, number[]][] = [
    ['indices 1..k', Array.from({ length: k }, (_, i) => i + 1)],
    ['spread indices', spread],
  ];
  for (const [label, idx] of subsets) {
    const list = idx.map((i) => sigShares.get(i)!);
    const params = { k, n, subset: label, quick: q };
    for (const b of backends) {
      // Interpolation only (shares already validated): the arithmetic of combining.
      const c = measure(() => {
        cold();
        return interpolateSignatures(list, b);
      }, slow);
      add({
        suite: 'threshold/combine',
        name: `combine ${k}-of-${n} (${label}, ${b.name} arithmetic)`,
        value: c.msPerOp,
        unit: 'ms',
        params: { ...params, backend: b.name },
        ceiling: { name: `single verify (${best})`, value: verifyMs[best]!, unit: 'ms' },
        claim: k === 67 ? 'target ≤ 60 ms (issue #4)' : k === 3 ? '7.6 ms min-pk (DESIGN §5)' : undefined,
        better: 'lower',
      } as BenchRecord);
    }
    for (const b of backends) {
      setBackend(b);
      const cv = measure(() => {
        cold();
        return combineSignatures(publicKey, m, list);
      }, slow);
      add({
        suite: 'threshold/combine',
        name: `combine+verify ${k}-of-${n} (${label}, ${b.name})`,
        value: cv.msPerOp,
        unit: 'ms',
        params: { ...params, backend: b.name },
        ceiling: { name: `single verify (${b.name})`, value: verifyMs[b.name]!, unit: 'ms' },
        claim: k === 3 && b.name === 'blst' ? 'target ≤ 5 ms native (issue #4)' : undefined,
        better: 'lower',
      } as BenchRecord);
    }
    setBackend(nobleBackend);
  }
}

// --- DKG end to end, all honest, in-process ----------------------------------------------------
function dkgOnce(n: number, t: number): void {
  const ids = Array.from({ length: n }, (_, i) => `p${i + 1}`);
  const parties = ids.map((self, i) => new DkgParty({ session: 'b', participants: ids, self, threshold: t, rng: seededRng(`dkg/${i}`) }));
  const pump = () => {
    for (let moved = true; moved; ) {
      moved = false;
      parties.forEach((p, i) => {
        if (!p.hasReady()) return;
        for (const o of p.ready().send) {
          const targets = o.to === 'all' ? ids.filter((id) => id !== ids[i]) : [o.to];
          for (const to of targets) parties[ids.indexOf(to)]!.step({ type: 'message', from: ids[i]!, msg: o.msg as DkgMessage });
          moved = true;
        }
      });
    }
  };
  for (const phase of ['dealing', 'complaining', 'justifying']) {
    pump();
    for (const p of parties) p.step({ type: 'timeout', timer: `dkg/b/${phase}` });
  }
  if (!parties.every((p) => p.phase === 'done')) throw new Error('DKG did not finish');
}
const [dn, dt] = q ? [4, 1] : [16, 5];
const cpu0 = process.cpuUsage();
const wall0 = performance.now();
dkgOnce(dn, dt);
const cpu = process.cpuUsage(cpu0);
const wall = performance.now() - wall0;
add({
  suite: 'threshold/dkg',
  name: `DKG n=${dn} t=${dt} end-to-end CPU (all ${dn} parties, one process)`,
  value: (cpu.user + cpu.system) / 1e6,
  unit: 's',
  params: { n: dn, t: dt, wallSeconds: Math.round(wall) / 1000, quick: q },
  claim: dn === 16 ? 'target ≤ 10 s CPU (issue #4)' : undefined,
  better: 'lower',
} as BenchRecord);

rec.write();
