import { describe, expect, it } from 'vitest';
import { Cluster } from './cluster.js';
import { Solo, prePrepare, req } from './craft.js';
import { TIMER_RETRANSMIT, sha256 } from '../src/index.js';
import type { PbftMessage } from '../src/index.js';

describe('PBFT normal case (§4.2)', () => {
  it('commits client requests in order on all replicas with offline-verifiable certificates', () => {
    const c = new Cluster({ n: 4 });
    for (let i = 0; i < 10; i++) c.request('r0');
    expect(c.runUntil(() => c.node('r0').app.applied.length === 10 && c.committedAll(c.node('r0').core.status().committedHeight))).toBe(true);
    c.checkAgreement();
    c.checkHealthy();
    for (const id of c.ids) expect(c.node(id).app.applied.map((r) => r.seq)).toEqual(c.node('r0').app.applied.map((r) => r.seq));
  });
});

describe('with real Ed25519 (@phalanx/crypto)', () => {
  it('commits, and every proof verifies offline with the crypto package verifier', async () => {
    const { generateKeyPair, signerFromSecret, createVerifier } = await import('@phalanx/crypto');
    const secrets = new Map<string, Uint8Array>();
    const keys = {
      verifier: createVerifier(),
      signer(id: string) {
        let s = secrets.get(id);
        if (!s) {
          s = generateKeyPair('ed25519', { seed: new Uint8Array(32).fill(id.charCodeAt(1)) }).secretKey;
          secrets.set(id, s);
        }
        return signerFromSecret(s);
      },
    };
    const c = new Cluster({ n: 4, keys, config: { checkpointInterval: 2 } });
    for (let i = 0; i < 6; i++) c.request('all');
    expect(c.runUntil(() => c.ids.every((id) => c.node(id).app.applied.length === 6))).toBe(true);
    c.checkAgreement();
    c.checkHealthy();
  });
});

describe('retransmission (loss recovery)', () => {
  const sentAfter = (s: Solo, from: number, type: PbftMessage['type']) =>
    s.out.slice(from).flatMap((r) => r.send.map((o) => o.msg)).filter((m) => m.type === type).length;

  it('re-sends a pre-prepare only once it went unanswered for a whole tick', () => {
    const r0 = new Solo('r0');
    r0.core.step({ type: 'request', request: req(1) });
    r0.flush();
    expect(r0.sent('pre-prepare')).toHaveLength(1);
    let mark = r0.out.length;
    r0.core.step({ type: 'timeout', timer: TIMER_RETRANSMIT }); // the round may still be running
    r0.flush();
    expect(sentAfter(r0, mark, 'pre-prepare')).toBe(0);
    mark = r0.out.length;
    r0.core.step({ type: 'timeout', timer: TIMER_RETRANSMIT }); // a whole tick without progress
    r0.flush();
    expect(sentAfter(r0, mark, 'pre-prepare')).toBe(1);
  });

  it('re-sends a backup prepare on the second tick, not the first', () => {
    const r1 = new Solo('r1').msg('r0', prePrepare('r0', 0n, 1n, [req(1)]));
    expect(r1.sent('prepare')).toHaveLength(1);
    let mark = r1.out.length;
    r1.core.step({ type: 'timeout', timer: TIMER_RETRANSMIT });
    r1.flush();
    expect(sentAfter(r1, mark, 'prepare')).toBe(0);
    mark = r1.out.length;
    r1.core.step({ type: 'timeout', timer: TIMER_RETRANSMIT });
    r1.flush();
    expect(sentAfter(r1, mark, 'prepare')).toBe(1);
  });
});

describe('checkpoints with the snapshot hash given (applied.snapshotHash)', () => {
  /** A SHA-256 hasher that counts how often it is handed one of the snapshots in `given`. */
  function countingHasher(algorithm: 'sha256' | 'blake3') {
    const given = new WeakSet<Uint8Array>();
    const count = { snapshotsHashed: 0 };
    const hasher = {
      algorithm,
      digest(d: Uint8Array): Uint8Array {
        if (given.has(d)) count.snapshotsHashed++;
        return sha256(d);
      },
    };
    return { given, count, hasher };
  }

  const stableAt = (c: Cluster, id: string): bigint => c.node(id).core.status().detail?.['stableCheckpoint'] as bigint;

  /** Four replicas checkpointing every 2 batches; those `handed` get the hash of each snapshot (noted in `given`). */
  function cluster(h: ReturnType<typeof countingHasher>, handed: (id: string) => boolean, maxBatchSize?: number): Cluster {
    return new Cluster({
      n: 4,
      config: { checkpointInterval: 2, hasher: h.hasher, ...(maxBatchSize ? { maxBatchSize } : {}) },
      snapshotHash: (id, snap) => {
        if (!handed(id)) return undefined;
        h.given.add(snap);
        return sha256(snap);
      },
    });
  }

  it('takes the hash instead of hashing the snapshot again, and agrees with replicas that hash it themselves', () => {
    const h = countingHasher('sha256');
    // r0 and r1 are handed the hash, r2 and r3 hash the snapshot themselves: a checkpoint needs 2f+1
    // = 3 matching votes, so it becomes stable only if both ways give the same digest.
    const c = cluster(h, (id) => id === 'r0' || id === 'r1');
    for (let i = 0; i < 8; i++) c.request('all');
    expect(c.runUntil(() => c.ids.every((id) => stableAt(c, id) >= 2n))).toBe(true);
    c.checkAgreement();
    expect(h.count.snapshotsHashed).toBe(0);
  });

  it('serves state transfer with the hash it was given, without hashing the snapshot', () => {
    const h = countingHasher('sha256');
    // r0, r1 and r2 are handed the hash and make the checkpoints; r3, cut off, catches up by state transfer from them.
    const c = cluster(h, (id) => id !== 'r3', 1);
    let isolated = true;
    c.filter = (p) => !isolated || (p.to !== 'r3' && p.from !== 'r3');
    for (let i = 0; i < 12; i++) c.request('r0');
    expect(c.runUntil(() => ['r0', 'r1', 'r2'].every((id) => stableAt(c, id) >= 4n))).toBe(true);
    isolated = false;
    for (let i = 0; i < 4; i++) c.request('r0');
    expect(c.runUntil(() => c.node('r3').events.some((e) => e.type === 'state-transfer' && e.phase === 'completed'), 400_000)).toBe(true);
    c.checkAgreement();
    expect(h.count.snapshotsHashed).toBe(0);
  });

  it('hashes the snapshot itself when its hasher is not SHA-256', () => {
    const h = countingHasher('blake3');
    const c = cluster(h, () => true);
    for (let i = 0; i < 4; i++) c.request('all');
    expect(c.runUntil(() => c.ids.every((id) => stableAt(c, id) >= 2n))).toBe(true);
    expect(h.count.snapshotsHashed).toBeGreaterThan(0);
  });
});
