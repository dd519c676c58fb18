/**
 * Simulated message deliveries per CPU second on the toy fixture protocol with stub crypto
 * (the figure the simulator promises: >= 100k/s), beside the ceiling of one codec round trip
 * per delivery. Writes its part with @phalanx/bench-kit (`$PHALANX_BENCH_OUT`, default <repo>/bench-results/parts/).
 */
import { writeRecords, quick as isQuick } from '@phalanx/bench-kit';
import type { BenchRecord } from '@phalanx/bench-kit';
import { runSeeds, simulate } from '../src/index.js';
import { pingAdapter } from './ping.js';
import { toyAdapter, toyCodec } from '../test/fixtures/toy-bft.js';
import type { ToyMsg } from '../test/fixtures/toy-bft.js';

const quick = isQuick();

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function codecCeiling(): number {
  const vote: ToyMsg = { t: 'vote', h: 12n, d: new Uint8Array(32).fill(7), sig: new Uint8Array(16).fill(3) };
  const iters = quick ? 20_000 : 200_000;
  const c0 = cpuSeconds();
  for (let i = 0; i < iters; i++) toyCodec.decode(toyCodec.encode(vote));
  return iters / (cpuSeconds() - c0);
}

/** Deliveries per CPU second of the simulator alone (the ping protocol: 3-byte codec, no crypto). */
function simCeiling(): number {
  // 600 concurrent chains, one hop every ~5.5 virtual ms: about 110 deliveries per virtual ms.
  const virtualMs = quick ? 300 : 2_000;
  const opts = { faults: 'none', scenario: { clients: { count: 0, requests: 0, timeoutMs: 1, thinkMs: 0 }, livenessBoundMs: virtualMs } };
  simulate(pingAdapter, { ...opts, seed: 1 });
  const c0 = cpuSeconds();
  const r = simulate(pingAdapter, { ...opts, seed: 2 });
  return r.stats.deliveries / (cpuSeconds() - c0);
}

const records: BenchRecord[] = [];
const ceiling = codecCeiling();
const simOnly = simCeiling();
records.push({
  suite: 'sim',
  name: 'deliveries per CPU second (ping: simulator overhead only)',
  value: Math.round(simOnly),
  unit: 'deliveries/s',
  params: { protocol: 'ping', n: 4, faults: 'none', crypto: 'none' },
  claim: 'the ceiling every simulated protocol runs under; target >= 100,000/s',
  better: 'higher',
});
console.log(`sim overhead only (ping): ${Math.round(simOnly)} deliveries/s`);
for (const [n, faults] of [
  [4, 'none'],
  [7, 'none'],
  [4, 'chaos'],
] as const) {
  const seeds = quick ? 3 : 20;
  runSeeds(toyAdapter(), { faults, n, seeds: 1, seedBase: 999 }); // warm-up
  const c0 = cpuSeconds();
  const rep = runSeeds(toyAdapter(), { faults, n, seeds, seedBase: 1, maxFailures: 1000 });
  const secs = cpuSeconds() - c0;
  const value = Math.round(rep.deliveries / secs);
  records.push({
    suite: 'sim',
    name: `deliveries per CPU second (toy-bft n=${n} ${faults})`,
    value,
    unit: 'deliveries/s',
    params: { protocol: 'toy-bft', n, faults, seeds, crypto: 'stub', deliveries: rep.deliveries, failures: rep.failures.length },
    ceiling: { name: 'toy codec encode+decode round trips', value: Math.round(ceiling), unit: 'msgs/s' },
    claim: 'target >= 100,000 simulated deliveries per CPU second with stub crypto',
    better: 'higher',
  });
  console.log(`sim n=${n} ${faults}: ${value} deliveries/s (${rep.deliveries} in ${secs.toFixed(2)} s CPU; codec ceiling ${Math.round(ceiling)}/s)`);
}
writeRecords('@phalanx/sim', records);
