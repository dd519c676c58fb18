import { describe, it, expect } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createValidatorSet } from '@phalanx/quorum';
import { ArgumentError, ConfigError } from '@phalanx/interface';
import type { ProtocolDefinition } from '@phalanx/interface';
import { runCluster, ClusterSafetyError, type ClusterOptions } from '../src/scenarios/cluster.js';
import { replicaSigner, replicaVerifier, replicaSeed } from '../src/scenarios/keys.js';
import { findDefinition, isProtocolDefinition, loadProtocol, PROTOCOLS } from '../src/scenarios/protocols.js';
import { clusterRecords, faultsTolerated, runProtocolCluster, SEED_LATENCY_CLAIM, seedThroughputClaim } from '../src/scenarios/cluster-scenario.js';
import { toy, type ToyConfig } from './toy-protocol.js';
import { tempDir } from './temp-dir.js';
import { seededRng } from '../src/scenarios/rng.js';


const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

function options(n: number, config: ToyConfig, over: Partial<ClusterOptions> = {}): ClusterOptions {
  const ids = Array.from({ length: n }, (_, i) => `r${i}`);
  const signers = ids.map((_, i) => replicaSigner('ed25519', replicaSeed(7, i)));
  return {
    protocol: toy as ProtocolDefinition<unknown, unknown>,
    config,
    ids,
    validators: createValidatorSet(ids.map((id, i) => ({ id, publicKey: signers[i]!.publicKey, power: 1 }))),
    signers,
    verifier: replicaVerifier(),
    commands: 50,
    maxWallMs: 20_000,
    concurrency: 8,
    commandBytes: 100,
    replyQuorum: 2,
    ...over,
  };
}

describe('in-process cluster harness', () => {
  it('drives a core to commit the requested commands and counts wire messages', () => {
    const r = runCluster(options(4, {}, { warmupCommands: 0 }));
    expect(r.committed).toBeGreaterThanOrEqual(50);
    expect(r.stopped).toBeUndefined();
    expect(new Set(r.heights.map(String)).size).toBe(1); // every replica reached the same height
    // Per batch: 3 proposals out, 3 acks back.
    const batches = Number(r.heights[0]);
    expect(r.messages).toBe(batches * 6);
    expect(r.bytes).toBeGreaterThan(r.messages * 100);
    expect(r.latency!.count).toBe(r.committed);
    expect(r.latency!.p50).toBeLessThanOrEqual(r.latency!.p99);
    expect(r.virtualMs).toBeGreaterThanOrEqual(5); // the batch timer fired on the virtual clock
    expect(r.decodeErrors).toBe(0);
  });

  it('measures a steady-state window after the warm-up commands', () => {
    const r = runCluster(options(4, {}, { commands: 60, warmupCommands: 20 }));
    expect(r.steady).toBe(true);
    expect(r.committed).toBeGreaterThanOrEqual(60);
    // Only requests submitted after the window opened are in the latency figures.
    expect(r.latency!.count).toBeLessThan(r.committed);
    expect(r.latency!.count).toBeGreaterThan(0);
    const whole = runCluster(options(4, {}, { commands: 60, warmupCommands: 0 }));
    expect(whole.messages).toBeGreaterThan(r.messages);
  });

  it('falls back to whole-run figures when the window never opens', () => {
    const r = runCluster(options(4, {}, { commands: 10, warmupCommands: 1000 }));
    expect(r.steady).toBe(false);
    expect(r.latency!.count).toBe(r.committed);
  });

  it('catches replicas that commit different batches at one height', () => {
    expect(() => runCluster(options(4, { mode: 'fork' }))).toThrow(ClusterSafetyError);
  });

  it('reports a stall instead of spinning when nothing commits', () => {
    const r = runCluster(options(4, { mode: 'silent' }));
    expect(r.committed).toBe(0);
    expect(r.stopped).toBe('stalled');
  });

  it('stops at the wall-time limit', () => {
    const r = runCluster(options(4, {}, { commands: 1e9, maxWallMs: 30 }));
    expect(r.stopped).toBe('wall-time');
    expect(r.committed).toBeGreaterThan(0);
  });

  it('turns a result into throughput, cost and latency records with the ceiling attached', () => {
    const r = runCluster(options(4, {}));
    const recs = clusterRecords('toy', 4, r, { name: 'unreplicated', value: 1e5, unit: 'ops/s' }, 8);
    expect(recs.map((x) => x.name)).toEqual([
      'throughput',
      'messages per command',
      'bytes per command',
      'commit latency p50',
      'commit latency p90',
      'commit latency p99',
      'commit latency max',
    ]);
    expect(recs[0]!.ceiling?.name).toBe('unreplicated');
    expect(recs[0]!.params).toMatchObject({ protocol: 'toy', n: 4 });
  });

  it("puts the seed's claims beside the figures they speak of, only at the replica count they name", () => {
    const r = runCluster(options(4, {}));
    const at4 = clusterRecords('pbft', 4, r, undefined, 8);
    expect(at4[0]!.claim).toBe('seed: 5,000 ops/s with 4 replicas');
    expect(at4.find((x) => x.name === 'commit latency p50')!.claim).toBe(SEED_LATENCY_CLAIM);
    expect(at4.find((x) => x.name === 'commit latency p99')!.claim).toBeUndefined();
    const at7 = clusterRecords('pbft', 7, r, undefined, 8);
    expect(at7.some((x) => x.claim !== undefined)).toBe(false);
    expect(seedThroughputClaim('hotstuff', 4)).toMatch(/20,000 ops\/s/);
    expect(seedThroughputClaim('raft', 3)).toMatch(/10,000 ops\/s/);
    expect(seedThroughputClaim('raft', 4)).toBeUndefined();
    expect(seedThroughputClaim('toy', 4)).toBeUndefined();
  });

  it('refuses options that do not name one signer per replica with ConfigError (path signers)', () => {
    const refused = expect.objectContaining({ constructor: ConfigError, code: 'CONFIG', path: 'signers', message: 'signers: need one signer per replica id' });
    const four = options(4, {});
    expect(() => runCluster({ ...four, signers: four.signers.slice(1) })).toThrow(refused);
    expect(() => runCluster({ ...four, ids: [], signers: [] })).toThrow(refused);
  });

  it("the scenarios' seeded Rng refuses a nextInt bound that is no integer in (0, 2^32] with ArgumentError", () => {
    const rng = seededRng(1);
    expect(rng.nextInt(5)).toBeLessThan(5);
    for (const n of [0, -1, Number.NaN, 2 ** 32 + 1, 1.5]) {
      expect(() => rng.nextInt(n)).toThrow(expect.objectContaining({ constructor: ArgumentError, code: 'ARGUMENT', argument: 'n', message: `nextInt bound must be an integer in (0, 2^32], got ${n}` }));
    }
  });

  it('knows f for each fault model', () => {
    expect([4, 7, 16, 31].map((n) => faultsTolerated('bft', n))).toEqual([1, 2, 5, 10]);
    expect(faultsTolerated('cft', 5)).toBe(2);
  });
});

describe('protocol loading', () => {
  it('recognises a ProtocolDefinition by shape', () => {
    expect(isProtocolDefinition(toy)).toBe(true);
    expect(isProtocolDefinition({ name: 'x', create() {} })).toBe(false);
    expect(findDefinition({ other: 1, thing: toy }, ['missing'])).toBe(toy);
  });

  it('skips with a clear reason when a package is absent, unbuilt or exports nothing usable', async () => {
    const root = tempDir('bench-proto-');
    const entry = { ...PROTOCOLS[0]!, dir: 'nope' };
    expect(await loadProtocol(root, entry)).toMatchObject({ ok: false, reason: 'packages/nope does not exist' });
    mkdirSync(path.join(root, 'packages', 'nope', 'dist'), { recursive: true });
    writeFileSync(path.join(root, 'packages', 'nope', 'package.json'), '{}');
    expect((await loadProtocol(root, entry)) as { reason: string }).toMatchObject({ reason: expect.stringMatching(/dist\/index\.js not found/) });
    writeFileSync(path.join(root, 'packages', 'nope', 'dist', 'index.js'), 'export const x = 1;\n');
    expect((await loadProtocol(root, entry)) as { reason: string }).toMatchObject({ reason: expect.stringMatching(/exports no ProtocolDefinition/) });
    writeFileSync(path.join(root, 'packages', 'nope', 'dist', 'index.js'), 'throw new Error("boom");\n');
    expect((await loadProtocol(root, { ...entry, dir: 'nope' })) as { reason: string }).toMatchObject({ reason: expect.stringMatching(/boom|exports no/) });
  });

  // Drives each real protocol package that is built, with real signatures: proves the harness and
  // the core agree on the contract. Skipped (visibly) for packages that are not built.
  for (const entry of PROTOCOLS) {
    it(`drives @phalanx/${entry.dir} when it is built`, async (ctx) => {
      const loaded = await loadProtocol(repoRoot, entry);
      if (!loaded.ok) return ctx.skip(loaded.reason);
      const r = runProtocolCluster({ entry, definition: loaded.definition, n: 4, commands: 20, maxWallMs: 20_000, concurrency: 4 });
      expect(r.committed).toBeGreaterThanOrEqual(20);
    }, 30_000);
  }
});

describe('kv-store commands for the scenarios', () => {
  it('builds puts of exactly the requested encoded size', async () => {
    const { kvStorePut } = await import('../src/scenarios/state-machine.js');
    const { decodeCommand } = await import('@phalanx/kv-store');
    for (const i of [0, 9, 10, 12345, 999_999]) {
      const c = kvStorePut(i);
      expect(c.length).toBe(100);
      expect(decodeCommand(c)).toMatchObject({ op: 'put' });
    }
    expect(kvStorePut(1, 300).length).toBe(300);
    expect(() => kvStorePut(1, 3)).toThrow(expect.objectContaining({ constructor: ArgumentError, code: 'ARGUMENT', argument: 'bytes', message: 'cannot build a 3-byte kv-store put for key k1' }));
  });
});
