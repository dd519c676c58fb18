import { describe, expect, it } from 'vitest';
import { ConfigError } from '@phalanx/interface';
import { activeRoundRobin, leadingZeroBits, proofOfWork, roundRobin, sha256Hasher, signatureListScheme } from '../src/index.js';
import type { QuorumCert, ViewEntry } from '../src/index.js';
import { Cluster, fakeValidators, fakeVerifier, req, seededRng } from './harness.js';
import { Solo } from './solo.js';
import type { Made } from './craft.js';

const { validators } = fakeValidators(4);

describe('leader election strategies', () => {
  it('round-robin: leader(v) = validators[v mod n]; only that leader is eligible, with an empty proof', () => {
    const rr = roundRobin({ validators, chainId: 'test', hasher: sha256Hasher });
    expect([0n, 1n, 2n, 3n, 4n, 9n].map((v) => rr.leader(v))).toEqual(['r0', 'r1', 'r2', 'r3', 'r0', 'r1']);
    const parent = new Uint8Array(32);
    expect(rr.eligible(5n, 'r1', parent, new Uint8Array(0))).toBe(true);
    expect(rr.eligible(5n, 'r2', parent, new Uint8Array(0))).toBe(false);
    expect(rr.eligible(5n, 'r1', parent, new Uint8Array(1))).toBe(false);
    expect(rr.prove(6n, 'r2', parent, seededRng(1))).toEqual(new Uint8Array(0));
    expect(rr.prove(6n, 'r3', parent, seededRng(1))).toBeUndefined();
  });

  it('leadingZeroBits counts bits across bytes', () => {
    expect(leadingZeroBits(new Uint8Array([0xff]))).toBe(0);
    expect(leadingZeroBits(new Uint8Array([0x01]))).toBe(7);
    expect(leadingZeroBits(new Uint8Array([0, 0, 0x10]))).toBe(19);
    expect(leadingZeroBits(new Uint8Array([0, 0]))).toBe(16);
  });

  it('proof-of-work (optional): bounded mining through the Rng, deterministic one-hash verification bound to view, proposer and parent', () => {
    const pow = proofOfWork({ difficultyBits: 8, attemptsPerView: 5000 })({ validators, chainId: 'test', hasher: sha256Hasher });
    expect(pow.leader(3n)).toBeUndefined();
    const parent = new Uint8Array(32).fill(7);
    const nonce = pow.prove(3n, 'r2', parent, seededRng(11))!;
    expect(nonce).toBeDefined();
    expect(pow.eligible(3n, 'r2', parent, nonce)).toBe(true);
    expect(pow.eligible(4n, 'r2', parent, nonce)).toBe(false);
    expect(pow.eligible(3n, 'r1', parent, nonce)).toBe(false);
    expect(pow.eligible(3n, 'r2', new Uint8Array(32), nonce)).toBe(false);
    expect(pow.eligible(3n, 'stranger', parent, nonce)).toBe(false);
    // One attempt at 30 bits essentially never succeeds: the work per step is bounded.
    const hard = proofOfWork({ difficultyBits: 30, attemptsPerView: 1 })({ validators, chainId: 'test', hasher: sha256Hasher });
    expect(hard.prove(3n, 'r2', parent, seededRng(11))).toBeUndefined();
    expect(() => proofOfWork({ difficultyBits: 65, attemptsPerView: 1 })).toThrow(ConfigError);
  });

  it('a cluster under proof-of-work election stays safe and commits (votes are broadcast)', () => {
    const c = new Cluster({ n: 4, seed: 21, config: { leaderElection: proofOfWork({ difficultyBits: 5, attemptsPerView: 8 }) } });
    for (let i = 1; i <= 10; i++) c.request('r0', req('p', i));
    c.run({ until: () => c.ids.every((id) => c.nodes.get(id)!.committedRequests.size >= 10), maxSteps: 100_000 });
    for (const id of c.ids) expect(c.nodes.get(id)!.committedRequests.size).toBe(10);
    c.checkAgreement(true);
  });
});

describe('activeRoundRobin (leader reputation from the QC voters)', () => {
  const arr = activeRoundRobin({ validators, chainId: 'test', hasher: sha256Hasher });
  const entry = (voters: string[], proposer = 'r0'): ViewEntry => ({ proposer, voters });
  const parent = new Uint8Array(32);

  it('without an entry (timeout-entered view) or voters (genesis, threshold QC) it is plain round-robin', () => {
    const rr = roundRobin({ validators, chainId: 'test', hasher: sha256Hasher });
    for (let v = 0n; v < 12n; v++) {
      expect(arr.leader(v)).toBe(rr.leader(v));
      expect(arr.leader(v, entry([]))).toBe(rr.leader(v));
    }
  });

  it('keeps the round-robin leader that voted; passes the turn back to the proposer of view-1 when it did not', () => {
    expect(arr.leader(2n, entry(['r0', 'r2', 'r3'], 'r1'))).toBe('r2');
    expect(arr.leader(2n, entry(['r0', 'r1', 'r3'], 'r1'))).toBe('r1'); // r1 led view 1 by right
    expect(arr.leader(4n, entry(['r1', 'r2', 'r3'], 'r3'))).toBe('r3');
    expect(arr.leader(5n, entry(['r0', 'r2', 'r3'], 'r0'))).toBe('r0'); // wraps around the set
    // View 1 was itself a passed turn (r0 proposed it, not r1): the turn does not pass again, or a
    // proposer that leaves the next validator out of every QC would lead for ever.
    expect(arr.leader(2n, entry(['r0', 'r1', 'r3'], 'r0'))).toBe('r2');
  });

  it('eligible and prove agree with leader for every view and entry', () => {
    const entries = [undefined, entry([]), entry(['r0', 'r1', 'r2']), entry(['r1', 'r2', 'r3']), entry(['r0', 'r2', 'r3'])];
    for (let v = 0n; v < 8n; v++) {
      for (const e of entries) {
        const leader = arr.leader(v, e);
        for (const id of ['r0', 'r1', 'r2', 'r3']) {
          expect(arr.eligible(v, id, parent, new Uint8Array(0), e)).toBe(id === leader);
          expect(arr.prove(v, id, parent, seededRng(1), e) !== undefined).toBe(id === leader);
        }
        expect(arr.eligible(v, leader!, parent, new Uint8Array(1), e)).toBe(false);
      }
    }
  });

  it('bounded capture: whatever quorum a proposer puts in its QC, at least n - 2f of any n views keep an honest leader', () => {
    // n = 10, f = 3, quorum 7; Byzantine r1, r5, r9, placed f+1 apart. Each QC is the worst a
    // Byzantine proposer can make: the honest replicas among the f positions after its own are
    // left out, so a turn passes to a Byzantine proposer whenever the rule allows it. Honest
    // proposers include every vote. Views run in order, each certified block proposed by the
    // leader the rule elected for its view, for three rotations (a rule that let a turn pass on
    // from a passed turn would let r1 keep the lead here).
    const big = fakeValidators(10).validators;
    const e = activeRoundRobin({ validators: big, chainId: 'test', hasher: sha256Hasher });
    const ids = big.validators.map((v) => v.id);
    const byzantine = new Set(['r1', 'r5', 'r9']);
    const counts: number[] = [];
    let proposer = ids[0]!;
    for (let v = 1n; v <= 30n; v++) {
      const base = Number(v % 10n);
      const left = !byzantine.has(proposer)
        ? new Set<string>()
        : new Set([0, 1, 2].map((i) => ids[(base + i) % 10]!).filter((id) => !byzantine.has(id)));
      const voters = ids.filter((id) => !left.has(id));
      expect(voters.length).toBeGreaterThanOrEqual(7);
      const leader = e.leader(v, { proposer, voters })!;
      expect([base, (base + 9) % 10]).toContain(ids.indexOf(leader));
      counts.push(byzantine.has(leader) ? 0 : 1);
      proposer = leader;
    }
    for (let i = 0; i + 10 <= counts.length; i++) {
      expect(counts.slice(i, i + 10).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(10 - 2 * 3);
    }
  });

  it('QC signers: the signature-list scheme names its voters in validator-set order', () => {
    const s = new Solo('r0');
    const b1 = s.craft.block(s.craft.genesis, 1n);
    const qc = s.craft.qc(b1, ['r3', 'r0', 'r2']);
    const scheme = signatureListScheme({ validators, verifier: fakeVerifier, chainId: 'test' });
    expect(scheme.signers!(qc.sig)).toEqual(['r0', 'r2', 'r3']);
    expect(() => scheme.signers!(new Uint8Array([0xff]))).toThrow();
  });
});

describe('activeRoundRobin in the core', () => {
  /** r0's view of b1..b3 (views 1..3) where the QC in b3 (on b2) leaves r0 out: r0's turn in view 4 passes back to r3, b3's proposer. */
  function skipR0(s: Solo): { b3: Made; qc3: QuorumCert } {
    const b1 = s.craft.block(s.craft.genesis, 1n);
    const b2 = s.craft.block(s.craft.qc(b1, ['r0', 'r1', 'r3']), 2n);
    const b3 = s.craft.block(s.craft.qc(b2, ['r1', 'r2', 'r3']), 3n);
    for (const m of [b1, b2, b3]) s.from(m.block.proposer, s.craft.proposal(m));
    return { b3, qc3: s.craft.qc(b3) };
  }

  /** As `skipR0`, but r2 sees only b1 and b2: b3, which decides view 4's leader, is still missing. */
  function withoutB3(s: Solo): Made {
    const b1 = s.craft.block(s.craft.genesis, 1n);
    const b2 = s.craft.block(s.craft.qc(b1, ['r0', 'r1', 'r3']), 2n);
    s.from('r1', s.craft.proposal(b1));
    s.from('r2', s.craft.proposal(b2));
    return s.craft.block(s.craft.qc(b2, ['r1', 'r2', 'r3']), 3n);
  }

  it('votes go to the leader that the voted block names, and the skipped replica does not propose', () => {
    const s = new Solo('r0', { leaderElection: activeRoundRobin, voteTargets: 1 });
    skipR0(s);
    const votes = s.take('vote');
    expect(votes.map((x) => [x.msg.view, x.to])).toEqual([
      [1n, 'r2'], // genesis names no voters: round-robin
      [2n, 'r3'], // r3 voted in b2's QC on b1
      [3n, 'r3'], // r0 is missing from b3's QC on b2: its turn passes back to r3, who led view 3
    ]);
    s.step({ type: 'request', request: req('c', 1) });
    expect(s.take('proposal')).toHaveLength(0);
  });

  it("accepts the proposal of the replica the turn passed to, refuses round-robin's", () => {
    const s = new Solo('r2', { leaderElection: activeRoundRobin });
    const { b3, qc3 } = skipR0(s);
    s.take('vote');
    const byR0 = s.craft.block(qc3, 4n, [], 'r0');
    s.from('r0', s.craft.proposal(byR0));
    expect(s.votesFor(4n)).toBe(0);
    expect(s.events.some((e) => e.type === 'misbehaviour' && e.peer === 'r0')).toBe(true);
    const byR3 = s.craft.block(qc3, 4n, [], 'r3');
    s.from('r3', s.craft.proposal(byR3));
    expect(s.votesFor(4n)).toBe(1);
    expect(b3.block.view).toBe(3n);
  });

  it('a proposal arriving before the block that decides its leader waits for it instead of being refused', () => {
    const s = new Solo('r2', { leaderElection: activeRoundRobin });
    const b3 = withoutB3(s);
    const b4 = s.craft.block(s.craft.qc(b3), 4n, [], 'r3');
    s.from('r3', s.craft.proposal(b4)); // b3 unknown: who leads view 4 is not known yet
    expect(s.events.some((e) => e.type === 'misbehaviour')).toBe(false);
    expect(s.take('request-blocks')[0]!.to).toBe('r3');
    s.from('r3', { type: 'blocks', blocks: [b3.block] });
    expect(s.votesFor(4n)).toBe(1);
  });

  it('a non-leader proposal held until its deciding block arrives is then refused', () => {
    const s = new Solo('r2', { leaderElection: activeRoundRobin });
    const b3 = withoutB3(s);
    const byR0 = s.craft.block(s.craft.qc(b3), 4n, [], 'r0'); // r0 is left out of b3's QC: not its turn
    s.from('r0', s.craft.proposal(byR0));
    expect(s.events.some((e) => e.type === 'misbehaviour')).toBe(false);
    s.from('r1', { type: 'blocks', blocks: [b3.block] });
    expect(s.votesFor(4n)).toBe(0);
    expect(s.events.some((e) => e.type === 'misbehaviour' && e.peer === 'r0' && /not a leader/.test(e.detail))).toBe(true);
  });

  it('with the turn passed, votes still reach two distinct replicas (voteTargets 2)', () => {
    const s = new Solo('r0', { leaderElection: activeRoundRobin });
    skipR0(s);
    const v3 = s.take('vote').filter((x) => x.msg.view === 3n).map((x) => x.to);
    // leader(4) is r3 (turn passed back), leader(5) is r1 (a view after a TC: round-robin).
    expect(v3.sort()).toEqual(['r1', 'r3']);
  });

  it('the replica the turn passed to aggregates the votes (voteTargets 1) and proposes; the status names it', () => {
    const s = new Solo('r3', { leaderElection: activeRoundRobin, voteTargets: 1 });
    const { b3 } = skipR0(s);
    s.step({ type: 'request', request: req('c', 1) });
    for (const id of ['r0', 'r1', 'r2']) s.from(id, s.craft.vote(id, b3));
    const proposals = s.take('proposal');
    expect(proposals.map((p) => p.msg.block.view)).toContain(4n);
    expect(s.core.status().leader).toBe('r3');
  });

  it('a view entered by a TC keeps round-robin even if the QC of the view before comes later', () => {
    // r3 enters view 4 by a TC of view 3, then forms b3's QC (which leaves r0 out, so by the QC
    // the turn would be r3's): r0, the round-robin leader, proposes with the TC; r3 must not as well.
    const s = new Solo('r3', { leaderElection: activeRoundRobin, voteTargets: 1 });
    const { b3 } = skipR0(s);
    s.step({ type: 'request', request: req('c', 1) });
    for (const id of ['r0', 'r1', 'r2']) s.from(id, s.craft.timeout(id, 3n, b3.block.justify));
    expect(s.core.status().view).toBe(4n);
    for (const id of ['r0', 'r1', 'r2']) s.from(id, s.craft.vote(id, b3));
    expect(s.take('proposal').filter((p) => p.msg.block.view === 4n)).toHaveLength(0);
    expect(s.core.status().leader).toBe('r0');
  });

  it("a proposal carrying a TC is judged by round-robin, even when its QC is from the view before", () => {
    const s = new Solo('r2', { leaderElection: activeRoundRobin });
    const { b3, qc3 } = skipR0(s);
    const tc3 = s.craft.tc(3n, b3.block.justify, ['r0', 'r2', 'r3']);
    s.from('r0', s.craft.proposal(s.craft.block(qc3, 4n, [], 'r0'), tc3));
    expect(s.events.some((e) => e.type === 'misbehaviour')).toBe(false);
    expect(s.votesFor(4n)).toBe(1);
  });
});
