import { describe, expect, it } from 'vitest';
import { bytesEqual, decode } from '@phalanx/codec';
import { CertificateError } from '@phalanx/interface';
import { decodeCertificate, verifyCertificate } from '@phalanx/quorum';
import { pbftCodec } from '../src/index.js';
import type { NewViewMsg, PbftMessage, PrePrepareMsg } from '../src/index.js';
import { Cluster, testVerifier } from './cluster.js';
import type { Packet } from './cluster.js';
import { digestOf, prePrepare, req, resign, vote } from './craft.js';

const appliedAll = (c: Cluster, count: number, ids: readonly string[]) => () => {
  const ref = ids.map((id) => c.node(id)).find((n) => n.app.applied.length >= count);
  return ref !== undefined && c.committedAll(ref.core.status().committedHeight, ids);
};

describe('Byzantine primary', () => {
  it('an equivocating primary yields evidence, a view change, and no disagreement', () => {
    const c = new Cluster({ n: 4 });
    // r0 tells r1 both A and a conflicting B, and r2/r3 only B.
    c.intercept.set('r0', (p: Packet, msg: PbftMessage) => {
      if (msg.type !== 'pre-prepare' || msg.view !== 0n) return [p];
      const twin = prePrepare('r0', 0n, msg.seq, [...msg.batch, req(1000 + Number(msg.seq), 'twin', 'evil')]);
      const b = { ...p, bytes: pbftCodec.encode(twin) };
      return p.to === 'r1' ? [p, b] : [b];
    });
    for (let i = 0; i < 4; i++) c.request('all');
    const honest = ['r1', 'r2', 'r3'];
    expect(c.runUntil(appliedAll(c, 4, honest))).toBe(true);
    expect(c.node('r1').events.some((e) => e.type === 'evidence' && e.evidence.voter === 'r0')).toBe(true);
    for (const id of honest) expect(c.node(id).core.status().view).toBeGreaterThanOrEqual(1n);
    c.checkAgreement();
    c.checkHealthy(honest);
  });

  /**
   * r1, primary of view 1, is faulty: of all it says, only its NEW-VIEW reaches r0, and only r0.
   * r0 (primary of view 0, whose pre-prepares r2 and r3 never get) enters view 1 from it without
   * ever sending a VIEW-CHANGE for view 1. r2 and r3 then hold 2 VIEW-CHANGEs for view 1 (their
   * own), too few to start their timer (TOCS §4.5.2), and later only r0's for view 2, too few
   * for the f+1 rule: they wait for ever unless r0 relays the NEW-VIEW. Returns once r0 is in view 1.
   */
  function newViewToR0Only(): Cluster {
    // r0's timer runs longer than the others', so the NEW-VIEW reaches it before it would leave view 0.
    const c = new Cluster({ n: 4, configFor: (id) => (id === 'r0' ? { viewChangeTimeoutMs: 5_000 } : undefined) });
    c.intercept.set('r1', (p: Packet, msg: PbftMessage) => (msg.type === 'new-view' && p.to === 'r0' ? [p] : []));
    const inView1 = () => c.node('r0').core.status().view >= 1n;
    c.filter = (p) => {
      const m = pbftCodec.decode(p.bytes);
      if (p.from === 'r0' && m.type === 'pre-prepare' && m.view === 0n) return false;
      // r0 must learn of view 1 from the NEW-VIEW, not join the change (f+1 VIEW-CHANGEs).
      return !(p.to === 'r0' && m.type === 'view-change' && !inView1());
    };
    for (let i = 0; i < 2; i++) c.request('all');
    expect(c.runUntil(inView1, 100_000)).toBe(true);
    return c;
  }

  /** The three honest replicas commit both requests, in a view past the faulty primary's. */
  function movesOn(c: Cluster): void {
    const honest = ['r0', 'r2', 'r3'];
    expect(c.runUntil(appliedAll(c, 2, honest), 100_000)).toBe(true);
    for (const id of honest) expect(c.node(id).core.status().view).toBeGreaterThanOrEqual(2n);
    c.checkAgreement();
    c.checkHealthy(honest);
  }

  it('a primary that sends its NEW-VIEW to one replica only: that replica relays it, and the view moves on', () => {
    const c = newViewToR0Only();
    expect(c.node('r0').events.some((e) => e.type === 'view-change')).toBe(false); // it never asked for view 1
    movesOn(c);
  });

  it('the one replica the NEW-VIEW reached restarts before relaying it: it relays it from its storage', () => {
    // A NEW-VIEW held in memory only is gone after the restart, and r2 and r3 wait for ever.
    const c = newViewToR0Only();
    c.crash('r0');
    c.restart('r0');
    expect(c.node('r0').core.status()).toMatchObject({ view: 1n, detail: { newViewHeld: true } });
    movesOn(c);
  });

  it('the NEW-VIEW record outlives log compaction for as long as its view lasts, one copy at a time', () => {
    const c = new Cluster({ n: 4, config: { checkpointInterval: 2, maxBatchSize: 1 } });
    c.crash('r0');
    c.request('all');
    expect(c.runUntil(() => c.node('r2').core.status().view === 1n && c.node('r2').app.applied.length === 1, 100_000)).toBe(true);
    const newViews = () => c.node('r2').disk.log.filter((r) => (decode(r.data) as unknown[])[0] === 4);
    expect(newViews()).toHaveLength(1);
    const first = newViews()[0]!.index;
    for (let i = 0; i < 12; i++) c.request('all');
    expect(c.runUntil(appliedAll(c, 13, ['r1', 'r2', 'r3']), 100_000)).toBe(true);
    // Compacted past the first copy (checkpoints every 2 batches), yet one copy is in the log.
    expect(c.node('r2').disk.log[0]!.index).toBeGreaterThan(first);
    expect(newViews()).toHaveLength(1);
    c.crash('r2');
    c.restart('r2');
    expect(c.node('r2').core.status()).toMatchObject({ view: 1n, detail: { newViewHeld: true } });
    c.request('all');
    expect(c.runUntil(appliedAll(c, 14, ['r1', 'r2', 'r3']), 100_000)).toBe(true);
    c.checkAgreement();
  });

  it('a replica restarted while changing views holds no NEW-VIEW (its old view\'s record stays unused), then the new view\'s', () => {
    const c = new Cluster({ n: 4 });
    c.crash('r0');
    c.request('all');
    expect(c.runUntil(() => c.node('r2').core.status().view === 1n && c.node('r2').app.applied.length === 1, 100_000)).toBe(true);
    // r1, primary of view 1, goes too: r2 starts changing to view 2, its view-1 record still in its log.
    c.restart('r0');
    c.crash('r1');
    c.request('all');
    expect(c.runUntil(() => c.node('r2').core.status().role === 'view-change', 100_000)).toBe(true);
    c.crash('r2');
    c.restart('r2');
    expect(c.node('r2').core.status()).toMatchObject({ view: 2n, role: 'view-change', detail: { newViewHeld: false } });
    expect(c.runUntil(appliedAll(c, 2, ['r0', 'r2', 'r3']), 100_000)).toBe(true);
    expect(c.node('r2').core.status()).toMatchObject({ view: 2n, detail: { newViewHeld: true } });
    c.checkAgreement();
  });

  it('a forged NEW-VIEW (O not computed from V) is rejected and the next primary takes over', () => {
    // One request per batch, so three batches are pipelined (partial batches would wait their turn).
    const c = new Cluster({ n: 4, config: { maxBatchSize: 1 } });
    // Commits never arrive in view 0, so requests get prepared but not committed: V carries certificates.
    c.filter = (p) => {
      const m = pbftCodec.decode(p.bytes);
      return !(m.type === 'commit' && m.view === 0n);
    };
    for (let i = 0; i < 3; i++) c.request('all');
    c.runUntil(() => ['r1', 'r2', 'r3'].every((id) => c.node(id).core.status().detail?.inFlight === 3), 5000);
    c.crash('r0');
    let forged = 0;
    c.intercept.set('r1', (p: Packet, msg: PbftMessage) => {
      if (msg.type !== 'new-view') return [p];
      // r1 (primary of view 1) replaces the first prepared batch by a null request: unsafe, must be refused.
      const nv = msg as NewViewMsg;
      const first = nv.prePrepares[0] as PrePrepareMsg;
      const swapped = prePrepare('r1', nv.view, first.seq, []);
      const bad = resign('r1', { ...nv, prePrepares: [swapped, ...nv.prePrepares.slice(1)] });
      forged++;
      return [{ ...p, bytes: pbftCodec.encode(bad) }];
    });
    c.runUntil(() => c.node('r2').core.status().view >= 2n && !c.node('r2').core.status().role?.startsWith('view'), 100_000);
    expect(forged).toBeGreaterThan(0);
    for (const id of ['r2', 'r3']) {
      const ev = c.node(id).events;
      expect(ev.some((e) => e.type === 'misbehaviour' && e.peer === 'r1' && e.detail.includes('O does not match V'))).toBe(true);
      expect(c.node(id).core.status().view).toBe(2n);
    }
    // The three prepared requests survive the two view changes (§4.4 safety across views).
    c.intercept.delete('r1');
    expect(c.runUntil(() => c.node('r2').app.applied.length === 3 && c.node('r3').app.applied.length === 3, 100_000)).toBe(true);
    c.checkAgreement();
  });
});

describe('Byzantine backup', () => {
  it('forged, replayed and impersonating messages cost it its standing, never safety or liveness', () => {
    const c = new Cluster({ n: 4, config: { suspectAfter: 2, isolateAfter: 5 } });
    const history: Packet[] = [];
    c.intercept.set('r3', (p: Packet, msg: PbftMessage) => {
      history.push(p);
      // The forgeries go ahead of the genuine message: a vote for the certified digest that arrives
      // past its quorum is not even checked (it changes nothing), so a forgery of that kind sent
      // late goes unblamed.
      const out: Packet[] = [];
      if (msg.type === 'prepare' || msg.type === 'commit') {
        // impersonation: a vote signed with r3's key claiming to be r1's
        out.push({ ...p, bytes: pbftCodec.encode({ ...vote(msg.type, 'r3', msg.view, msg.seq, msg.digest), voter: 'r1' }) });
        // forgery: r1's vote with a made-up signature, and a vote for a different digest
        out.push({ ...p, bytes: pbftCodec.encode({ ...msg, digest: new Uint8Array(32).fill(9), signature: new Uint8Array(32).fill(1) }) });
      }
      // replay of an old message
      if (history.length > 5) out.push(history[history.length - 5]!);
      out.push(p);
      return out;
    });
    for (let i = 0; i < 20; i++) c.request('all');
    const honest = ['r0', 'r1', 'r2'];
    expect(c.runUntil(appliedAll(c, 20, honest))).toBe(true);
    for (const id of honest) {
      const ev = c.node(id).events;
      expect(ev.some((e) => e.type === 'misbehaviour' && e.peer === 'r3' && e.kind === 'invalid-signature')).toBe(true);
      expect(ev.some((e) => e.type === 'peer-status' && e.peer === 'r3' && e.status === 'isolated')).toBe(true);
      // nobody honest is blamed
      expect(ev.some((e) => e.type === 'peer-status' && e.peer !== 'r3')).toBe(false);
    }
    c.checkAgreement();
    c.checkHealthy(honest);
  });

  it('isolates at most f peers', () => {
    const c = new Cluster({ n: 4, config: { suspectAfter: 1, isolateAfter: 1 } });
    const core = c.node('r0').core;
    for (const peer of ['r1', 'r2', 'r3']) {
      core.step({ type: 'message', from: peer, msg: { ...vote('prepare', peer, 0n, 1n, digestOf([])), signature: new Uint8Array(32) } });
    }
    c.drain(c.node('r0'));
    const isolated = c.node('r0').events.filter((e) => e.type === 'peer-status' && e.status === 'isolated');
    expect(isolated).toHaveLength(1);
  });
});

describe('mutation: the checkers catch an unsafe quorum', () => {
  /**
   * n = 7, f = 2: a Byzantine primary r0 and accomplice r1 split the honest replicas into {r2, r3}
   * and {r4, r5, r6} and tell each side a different batch at sequence 1. With the 2f+1 quorum (5)
   * neither side commits; with a 2f quorum (4) both do — the agreement check must fail.
   */
  function attack(unsafe: boolean): Cluster {
    const c = new Cluster({ n: 7, config: unsafe ? { unsafeQuorumOverride: 4 } : {} });
    c.crash('r0');
    c.crash('r1');
    const A = [req(0, 'A')];
    const B = [req(0, 'B')];
    for (const [side, batch] of [[['r2', 'r3'], A], [['r4', 'r5', 'r6'], B]] as const) {
      const pp = prePrepare('r0', 0n, 1n, batch);
      for (const to of side) {
        c.inject('r0', to, pp);
        c.inject('r1', to, vote('prepare', 'r1', 0n, 1n, pp.digest));
        c.inject('r0', to, vote('commit', 'r0', 0n, 1n, pp.digest));
        c.inject('r1', to, vote('commit', 'r1', 0n, 1n, pp.digest));
      }
    }
    c.runUntil(() => false, 5_000, 100);
    return c;
  }

  it('with 2f+1 quorums the split attack commits nothing conflicting', () => {
    const c = attack(false);
    c.checkAgreement();
  });

  it('with 2f quorums (the mutant) the agreement check fails', () => {
    const c = attack(true);
    const d2 = c.node('r2').committed.get(1n);
    const d4 = c.node('r4').committed.get(1n);
    expect(d2 && d4 && !bytesEqual(Buffer.from(d2), Buffer.from(d4))).toBe(true);
    expect(() => c.checkAgreement()).toThrow(/agreement at height 1/);
    // Its certificates carry 4 of 7 signatures: the offline certificate check refuses them too.
    const proof = c.node('r2').proofs.get(1n)!;
    expect(() => verifyCertificate(decodeCertificate(proof), c.validators, testVerifier)).toThrow(CertificateError);
  });
});
