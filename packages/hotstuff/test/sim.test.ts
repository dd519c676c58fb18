/**
 * Extra simulator runs beyond the shared compliance suite: Twins (two instances of a replica with
 * one key, each talking to part of the network — Bano et al., "Twins: BFT Systems Made Robust",
 * OPODIS 2021) at n = 7 under both commit rules, and a larger n = 10 cluster with crash-restarts.
 */
import { describe, expect, it } from 'vitest';
import { formatFailure, runSeeds } from '@phalanx/sim';
import { createSimulation, hotstuff, simulation, simulationTwoChain } from '../src/index.js';
import type { LeaderElectionFactory, ViewEntry } from '../src/index.js';

/** Runs `seeds` seeds and fails with the first failure's replay line; returns the report. */
function allPass(adapter: Parameters<typeof runSeeds>[0], opts: Omit<Parameters<typeof runSeeds>[1], 'protocolName'> & { seeds: number }) {
  const r = runSeeds(adapter, { ...opts, protocolName: 'hotstuff' });
  if (r.failures.length > 0) expect.fail(formatFailure(r.failures[0]!));
  expect(r.runs).toBe(opts.seeds);
  return r;
}

describe('simulator: Twins and larger clusters', () => {
  for (const [name, adapter] of [['three-chain', simulation], ['two-chain', simulationTwoChain]] as const) {
    it(`Twins leader at n = 7 (${name})`, () => {
      const r = allPass(adapter, { seeds: 5, seedBase: 7_000n, n: 7, faults: 'twins' });
      expect(r.commits).toBeGreaterThan(0);
    });
  }

  it('crash-restarts with frequent snapshots and a short log (recovery from a snapshot and a compacted log)', () => {
    const compacting = createSimulation(hotstuff, { snapshotInterval: 3, syncWindow: 64 });
    const r = allPass(compacting, { seeds: 4, seedBase: 12_000n, n: 4, faults: 'crash-restart' });
    expect(r.commits).toBeGreaterThan(0);
  });

  it('laggards beyond a sync window of 4 blocks catch up by state transfer; without snapshots they do not', () => {
    const small = { syncWindow: 4, stateTickMs: 200, stateChunkBytes: 1024 } as const;
    const transferring = createSimulation(hotstuff, { ...small, snapshotInterval: 3 });
    let restores = 0;
    for (const faults of ['crash-restart', 'partition', 'chaos'] as const) {
      restores += allPass(transferring, { seeds: 8, seedBase: 20_000n, n: 4, faults }).restores;
    }
    expect(restores).toBeGreaterThan(0);
    // The control: the same windows with state transfer impossible (no snapshots to transfer).
    const stuck = runSeeds(createSimulation(hotstuff, { ...small, snapshotInterval: 0 }), { seeds: 8, seedBase: 20_000n, n: 4, faults: 'crash-restart', protocolName: 'hotstuff', maxFailures: 1 });
    expect(stuck.failures[0]?.violations[0]?.checker).toBe('liveness');
  });

  it('`applied` arriving late (a checkpoint taken in the background) with frequent snapshots, state transfer and faults', () => {
    const late = createSimulation(hotstuff, { syncWindow: 4, stateTickMs: 200, stateChunkBytes: 1024, snapshotInterval: 3 });
    let restores = 0;
    for (const faults of ['late-applied+crash-restart', 'late-applied+partition', 'late-applied+chaos'] as const) {
      restores += allPass(late, { seeds: 8, seedBase: 30_000n, n: 4, faults }).restores;
    }
    expect(restores).toBeGreaterThan(0);
  });

  it('n = 10 (f = 3) with crash-restarts', () => {
    allPass(simulation, { seeds: 3, seedBase: 10_000n, n: 10, faults: 'crash-restart' });
  });

  it('a late TIMEOUT whose QC finishes a three-chain on an abandoned branch still commits at its receiver (byzantine seed 0x1d)', () => {
    // Seed 0x1d: QC(v52) committed h47 at r1..r3 travelling only in r2's TIMEOUT of view 53,
    // which reached r0 after r0 had left view 53; r0 dropped it, then waited for proposals that
    // idle replicas never make (liveness violation for c1#8).
    const r = allPass(simulation, { seeds: 1, seedBase: 0x1dn, n: 4, faults: 'byzantine' });
    expect(r.commits).toBeGreaterThan(0);
  });

  it('an idle replica answers a laggard\'s TIMEOUT with its newer QC (byzantine seed 0xb5)', () => {
    // Seed 0xb5: r1 formed QC(v14) and went idle in view 15; r2 and r3 timed out in view 14 for
    // ever, the Byzantine r0 sending them garbage and r1, never timed out itself, not answering.
    allPass(simulation, { seeds: 1, seedBase: 0xb5n, n: 4, faults: 'byzantine' });
  });

  it('a slow honest replica\'s turn goes back to the proposer before it, not on to a Byzantine one after it (chaos seed 0x4ea4)', () => {
    // Seed 0x4ea4: r3 is slow, so its votes are never among the first three in a QC and its turn
    // is passed. Passed on to the next validator, it went to the Byzantine r0, which then led two
    // views of every four (r3's and, entered by the TC after it, its own): at most two honest
    // views in a row, and the three-chain rule committed nothing from 3 s to the end of the run.
    const opts = { seeds: 1, seedBase: 0x4ea4n, n: 4, faults: 'chaos', protocolName: 'hotstuff', maxFailures: 1 } as const;
    const r = allPass(simulation, opts);
    expect(r.commits).toBeGreaterThan(0);
    // The control: the same core with the old rule (the turn passes on to the next validator).
    const passOn: LeaderElectionFactory = (params) => {
      const ids = params.validators.validators.map((v) => v.id);
      const leader = (view: bigint, entry?: ViewEntry): string => {
        const base = Number(view % BigInt(ids.length));
        if (!entry || entry.voters.length === 0 || entry.voters.includes(ids[base]!)) return ids[base]!;
        return ids[(base + 1) % ids.length]!;
      };
      return {
        name: 'pass-on',
        usesEntry: true,
        leader,
        eligible: (view, proposer, _parent, proof, entry) => proof.length === 0 && leader(view, entry) === proposer,
        prove: (view, self, _parent, _rng, entry) => (leader(view, entry) === self ? new Uint8Array(0) : undefined),
      };
    };
    const old = runSeeds(createSimulation(hotstuff, { leaderElection: passOn }), opts);
    expect(old.failures[0]?.violations[0]?.checker).toBe('liveness');
  });

  it('a leader inventing requests is stopped by client signatures, and caught by validity when the core does not check them', () => {
    const opts = { seeds: 20, seedBase: 1n, n: 4, faults: 'invent', protocolName: 'hotstuff', maxFailures: 1 } as const;
    const real = runSeeds(simulation, opts);
    if (real.failures.length > 0) expect.fail(formatFailure(real.failures[0]!));
    expect(real.commits).toBeGreaterThan(0);
    // The mutant: the same core, its clientAuth taken away (the simulator's clients still sign).
    const unchecked = runSeeds(createSimulation(hotstuff, { clientAuth: undefined }), opts);
    expect(unchecked.failures.length).toBe(1);
    expect(unchecked.failures[0]!.violations[0]).toMatchObject({ checker: 'validity', message: expect.stringMatching(/which no client submitted/) });
  });
});
