/**
 * Fault scenarios on the in-process deterministic loop. Each checks agreement (same block at
 * every height on every replica, commit proofs verify) and liveness after faults heal.
 */
import { describe, expect, it } from 'vitest';
import { verifyEvidence } from '@phalanx/quorum';
import { Cluster, req } from './harness.js';
import { roundRobin } from '../src/index.js';
import type { HotStuffMessage } from '../src/index.js';

function load(c: Cluster, client: string, count: number, at = 'r0'): void {
  for (let i = 1; i <= count; i++) c.request(at, req(client, i));
}

function allCommitted(c: Cluster, ids: string[], count: number): () => boolean {
  return () => ids.every((id) => c.nodes.get(id)!.committedRequests.size >= count);
}

describe('fault scenarios', () => {
  it('leader crash: the pacemaker times out, forms a TC and the next leader continues', () => {
    const c = new Cluster({ n: 4, seed: 7 });
    c.crash('r1'); // leader of view 1
    load(c, 'a', 10);
    const live = ['r0', 'r2', 'r3'];
    c.run({ until: allCommitted(c, live, 10) });
    for (const id of live) expect(new Set(c.committedKeys(id)).size).toBe(10);
    const reasons = c.nodes.get('r0')!.events.filter((e) => e.type === 'view-change').map((e) => (e as { reason: string }).reason);
    expect(reasons).toContain('timeout-certificate');
    c.checkAgreement(true);
  });

  it('silent proposer: a leader that sends nothing only costs its views', () => {
    const c = new Cluster({ n: 4, seed: 8 });
    c.filter = (e, m) => !(e.from === 'r2' && m.type === 'proposal');
    load(c, 'a', 30);
    c.run({ until: allCommitted(c, c.ids, 30) });
    for (const id of c.ids) expect(new Set(c.committedKeys(id)).size).toBe(30);
    c.checkAgreement(true);
  });

  it('partition and heal: no progress without a quorum, agreement and progress after healing', () => {
    const c = new Cluster({ n: 4, seed: 9 });
    const sideA = new Set(['r0', 'r1']);
    let partitioned = true;
    c.filter = (e) => !partitioned || sideA.has(e.from) === sideA.has(e.to);
    load(c, 'a', 10);
    c.run({ maxTime: 5_000 });
    for (const id of c.ids) expect(c.committedHeight(id)).toBe(0n);
    partitioned = false;
    c.run({ until: allCommitted(c, c.ids, 10) });
    for (const id of c.ids) expect(new Set(c.committedKeys(id)).size).toBe(10);
    c.checkAgreement(true);
  });

  it('minority partitioned away catches up after healing (block sync)', () => {
    const c = new Cluster({ n: 4, seed: 10 });
    let isolated = true;
    c.filter = (e) => !isolated || (e.from !== 'r3' && e.to !== 'r3');
    load(c, 'a', 200);
    const majority = ['r0', 'r1', 'r2'];
    c.run({ until: allCommitted(c, majority, 200) });
    expect(c.committedHeight('r3')).toBe(0n);
    isolated = false;
    load(c, 'b', 5);
    c.run({ until: allCommitted(c, c.ids, 205) });
    expect(new Set(c.committedKeys('r3')).size).toBe(205);
    c.checkAgreement(true);
  });

  it('crash-restart mid-view: the restarted replica resumes from its hard state and log', () => {
    const c = new Cluster({ n: 4, seed: 11 });
    load(c, 'a', 50);
    c.run({ until: () => c.committedHeight('r2') >= 3n });
    c.crash('r2');
    c.run({ maxSteps: 200 });
    c.start('r2');
    load(c, 'b', 20);
    c.run({ until: allCommitted(c, c.ids, 70) });
    for (const id of c.ids) expect(new Set(c.committedKeys(id)).size).toBe(70);
    c.checkAgreement(true);
  });

  it('snapshots every snapshotInterval heights and compacts the log to syncWindow blocks; a restart recovers from the compacted log', () => {
    const c = new Cluster({ n: 4, seed: 15, config: { snapshotInterval: 5, syncWindow: 8 } });
    // One command at a time, so that heights pass several snapshot points.
    for (let i = 1; i <= 30; i++) {
      c.request('r0', req('a', i));
      c.run({ until: allCommitted(c, c.ids, i) });
    }
    expect(c.ids.every((id) => c.committedHeight(id) >= 30n)).toBe(true);
    for (const id of c.ids) {
      const node = c.nodes.get(id)!;
      // Snapshots asked for at multiples of 5 only.
      const reported = node.committed.filter((b) => b.reportState).map((b) => b.height);
      expect(reported.length).toBeGreaterThan(0);
      expect(reported.every((h) => h % 5n === 0n)).toBe(true);
      // The log keeps the last syncWindow (8) blocks below the newest snapshot, and what followed it.
      const last = reported[reported.length - 1]!;
      expect(node.log[0]!.index).toBe(last - 8n + 1n);
      expect(node.log.length).toBeLessThanOrEqual(8 + 5 + 3);
    }
    c.crash('r1');
    load(c, 'b', 5);
    c.run({ until: allCommitted(c, ['r0', 'r2', 'r3'], 35) });
    const snap = c.nodes.get('r1')!.snapshotHeight;
    const top = c.committedHeight('r1');
    expect(snap).toBeGreaterThan(0n);
    expect(top).toBeGreaterThan(snap); // blocks above the snapshot must come back from the log
    c.start('r1'); // hard state + the compacted log; the application back at its snapshot
    expect(c.nodes.get('r1')!.committed[c.nodes.get('r1')!.committed.length - 1]!.height).toBe(top);
    for (let i = 1; i <= 10; i++) {
      c.request('r0', req('c', i));
      c.run({ until: allCommitted(c, c.ids, 35 + i) });
    }
    for (const id of c.ids) expect(new Set(c.committedKeys(id)).size).toBe(45);
    c.checkAgreement(true);
  });

  it('a replica restarting after the cluster went idle asks for the high QC and catches up (status)', () => {
    const c = new Cluster({ n: 4, seed: 14 });
    load(c, 'a', 5);
    c.run({ until: () => c.committedHeight('r3') >= 1n });
    c.crash('r3');
    load(c, 'b', 5);
    c.run({ until: allCommitted(c, ['r0', 'r1', 'r2'], 10) });
    c.run({ maxSteps: 50_000 }); // quiet again
    c.start('r3');
    c.run({ until: allCommitted(c, c.ids, 10) });
    expect(c.nodes.get('r3')!.committedRequests.size).toBe(10);
    c.checkAgreement(true);
  });

  it('a replica cut off while the others committed catches up once healed, though the cluster went idle (status probe)', () => {
    // Control: without the probe nothing reaches the healed replica, which has no timer of its own.
    for (const statusIntervalMs of [500, 0]) {
      const c = new Cluster({ n: 4, seed: 21, config: { statusIntervalMs } });
      load(c, 'a', 3);
      c.run({ until: allCommitted(c, c.ids, 3) });
      c.filter = (e) => e.from !== 'r3' && e.to !== 'r3';
      load(c, 'b', 5);
      c.run({ until: allCommitted(c, ['r0', 'r1', 'r2'], 8) });
      c.run({ maxTime: c.now + 5_000 }); // idle: at most the probes still run
      expect(c.nodes.get('r3')!.committedRequests.size).toBe(3);
      c.filter = () => true;
      c.run({ until: allCommitted(c, c.ids, 8), maxTime: c.now + 5_000 });
      expect(c.nodes.get('r3')!.committedRequests.size, `statusIntervalMs ${statusIntervalMs}`).toBe(statusIntervalMs > 0 ? 8 : 3);
      c.checkAgreement(true);
    }
  });

  it('equivocating leader: two proposals for one view yield verifiable evidence, safety holds', () => {
    const c = new Cluster({ n: 4, seed: 12 });
    const signer = c.signers.get('r1')!;
    c.tamper = (from, to, msg): Array<{ to: string; msg: HotStuffMessage }> => {
      if (from !== 'r1' || msg.type !== 'proposal' || to === 'r0') return [{ to, msg }];
      // r1 sends a different block (extra command) to r2 and r3, and both versions to r3.
      const block = { ...msg.block, commands: [...msg.block.commands, req('evil', 1)] };
      return [{ to, msg: resign(block, signer) }, ...(to === 'r3' ? [{ to, msg }] : [])];
    };
    load(c, 'a', 20);
    c.run({ until: allCommitted(c, ['r0', 'r2', 'r3'], 20) });
    const ev = c.nodes.get('r3')!.events.filter((e) => e.type === 'evidence');
    expect(ev.length).toBeGreaterThan(0);
    const evidence = (ev[0] as { evidence: Parameters<typeof verifyEvidence>[0] }).evidence;
    expect(evidence.voter).toBe('r1');
    expect(() => verifyEvidence(evidence, c.validators, c.verifier, 'test')).not.toThrow();
    c.checkAgreement(true);
  });

  it('a crashed replica stops being elected (activeRoundRobin); plain round-robin pays a timeout every rotation', () => {
    const timeouts = (c: Cluster): number =>
      c.nodes.get('r0')!.events.filter((e) => e.type === 'view-change' && e.reason === 'timeout-certificate').length;
    const runWith = (leaderElection?: typeof roundRobin): { tcs: number; time: number } => {
      const c = new Cluster({ n: 4, seed: 17, config: { maxBlockCommands: 1, ...(leaderElection ? { leaderElection } : {}) } });
      load(c, 'a', 20);
      c.run({ until: allCommitted(c, c.ids, 20) });
      c.crash('r3'); // after it has voted in every QC so far
      const before = timeouts(c);
      for (let i = 21; i <= 220; i++) c.request('r0', req('a', i));
      c.run({ until: allCommitted(c, ['r0', 'r1', 'r2'], 220) });
      for (const id of ['r0', 'r1', 'r2']) expect(c.nodes.get(id)!.committedRequests.size).toBe(220);
      c.checkAgreement(true);
      return { tcs: timeouts(c) - before, time: c.now };
    };
    const active = runWith();
    const plain = runWith(roundRobin);
    // The last QCs still name r3, so it may be elected once more before it drops out.
    expect(active.tcs).toBeLessThanOrEqual(2);
    expect(plain.tcs).toBeGreaterThan(20);
    expect(active.time * 3).toBeLessThan(plain.time);
  });

  it('a replica that one proposer always leaves out of its QCs still gets turns, and the cluster agrees', () => {
    // r0's QCs never carry r1's vote (it drops them): r1 loses the turns those QCs decide.
    const c = new Cluster({ n: 4, seed: 19, config: { maxBlockCommands: 1 } });
    c.filter = (e, m) => !(e.from === 'r1' && e.to === 'r0' && m.type === 'vote');
    load(c, 'a', 80);
    c.run({ until: allCommitted(c, c.ids, 80) });
    for (const id of c.ids) expect(c.nodes.get(id)!.committedRequests.size).toBe(80);
    const proposals = Object.fromEntries(c.ids.map((id) => [id, c.nodes.get(id)!.sent.filter((m) => m.type === 'proposal').length]));
    // Seed 19: {r0: 31, r1: 8, r2: 29, r3: 16}; plain round-robin gives each ~21. r1 keeps the
    // turns entered by QCs it is in (and by TCs); r0, whose certified blocks decide r1's turns,
    // takes back those it loses. (r3 loses some turns to r2 in the same way: its votes are often
    // not among the first three to reach r2.)
    expect(proposals['r1']).toBeGreaterThan(5);
    expect(proposals['r1']).toBeLessThan(Math.min(proposals['r2']!, proposals['r3']!));
    expect(proposals['r0']).toBeGreaterThan(Math.max(proposals['r1']!, proposals['r3']!));
    c.checkAgreement(true);
  });

  it('a replica far behind (hundreds of blocks) catches up by block sync alone', () => {
    const c = new Cluster({ n: 4, seed: 13, config: { maxBlockCommands: 1 } });
    c.crash('r3');
    load(c, 'a', 200);
    c.run({ until: allCommitted(c, ['r0', 'r1', 'r2'], 200) });
    c.start('r3');
    load(c, 'b', 3);
    c.run({ until: allCommitted(c, c.ids, 203) });
    c.run(); // until quiet: the replica that saw the last QC first may be a block ahead until then
    expect(c.committedHeight('r3')).toBe(c.committedHeight('r0'));
    c.checkAgreement(true);
  });
});

import { signVote } from '@phalanx/quorum';
import type { Block } from '../src/index.js';
import type { Signer } from '@phalanx/interface';
import { blockHash, sha256Hasher, PROPOSAL_KIND } from '../src/index.js';

function resign(block: Block, signer: Signer): HotStuffMessage {
  const hash = blockHash(sha256Hasher, block);
  const signature = signVote(signer, 'test', block.proposer, { kind: PROPOSAL_KIND, height: block.height, round: block.view, digest: hash }).signature;
  return { type: 'proposal', block, signature };
}
