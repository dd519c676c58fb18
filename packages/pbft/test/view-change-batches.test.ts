/**
 * VIEW-CHANGE and NEW-VIEW name batches by digest only (OSDI '99 §4.4); a replica that lacks a
 * batch NEW-VIEW assigns fetches it (FETCH-BATCH / BATCH) before it says anything about the seq.
 */
import { describe, expect, it } from 'vitest';
import type { ClientRequest } from '@phalanx/interface';
import { TIMER_STATUS, pbftCodec, refOf } from '../src/index.js';
import type { NewViewMsg, PreparedCert, ViewChangeMsg, VoteMsg } from '../src/index.js';
import { Solo, drain, prePrepare, req, resign, restartFrom, viewChange, vote } from './craft.js';

const batch: ClientRequest[] = [req(0, 'hello'), req(1, 'world')];
const pp0 = prePrepare('r0', 0n, 1n, batch);

/** Seq 1 prepared in view 0 by r0 (pre-prepare) and r1, r3 (PREPAREs). */
const cert: PreparedCert = {
  prePrepare: refOf(pp0),
  prepares: ['r1', 'r3'].map((id) => ({ voter: id, signature: vote('prepare', id, 0n, 1n, pp0.digest).signature })),
};


/** NEW-VIEW of view 1 by r1, from V = {r0, r1, r3}: O assigns seq 1 the batch of `cert`. */
function newView(): NewViewMsg {
  const o = refOf(prePrepare('r1', 1n, 1n, batch));
  return resign('r1', {
    type: 'new-view',
    view: 1n,
    viewChanges: [viewChange('r0'), viewChange('r1', 1n, [cert]), viewChange('r3', 1n, [cert])],
    prePrepares: [o],
    signature: new Uint8Array(0),
  });
}

const sends = (s: Solo, from = 0) => s.out.slice(from).flatMap((r) => r.send);

describe('view change with batches by digest', () => {
  it('a VIEW-CHANGE does not grow with the batches it certifies', () => {
    const r2 = new Solo('r2');
    const big = (i: number) => [{ client: 'c0', seq: BigInt(i), payload: new Uint8Array(64 * 1024).fill(i) }];
    for (let i = 1; i <= 20; i++) {
      const pp = prePrepare('r0', 0n, BigInt(i), big(i));
      r2.msg('r0', pp);
      for (const id of ['r1', 'r3']) r2.msg(id, vote('prepare', id, 0n, BigInt(i), pp.digest));
    }
    // f+1 VIEW-CHANGEs for view 1 make r2 join (§4.5.2).
    for (const id of ['r0', 'r3']) r2.msg(id, viewChange(id));
    const vc = r2.sent('view-change')[0] as ViewChangeMsg;
    expect(vc.prepared).toHaveLength(20);
    // 20 prepared certificates of 64 KiB batches each: with the batches inside this was > 1.3 MB.
    expect(pbftCodec.encode(vc).length).toBeLessThan(16 * 1024);
  });

  it('a backup without the batch fetches it from the certificate\'s signers and prepares only once it has it', () => {
    const r2 = new Solo('r2');
    const mark = r2.out.length;
    r2.msg('r1', newView());
    const out = sends(r2, mark);
    expect(out.filter((s) => s.msg.type === 'prepare')).toHaveLength(0);
    const asks = out.filter((s) => s.msg.type === 'fetch-batch');
    expect(asks).toHaveLength(1);
    // A backup that signed a PREPARE first; the certificate's primary (r0), likely the crashed one, last.
    expect(['r1', 'r3']).toContain(asks[0]!.to);
    expect(asks[0]!.msg).toMatchObject({ seq: 1n, digest: pp0.digest });

    // A batch breaking the bounds (here: an invalid request) is blamed.
    r2.msg('r3', { type: 'batch', seq: 1n, batch: [{ client: '', seq: -1n, payload: new Uint8Array(0) }] });
    expect(r2.events().some((e) => e.type === 'misbehaviour' && e.peer === 'r3' && /batch out of bounds/.test(e.detail))).toBe(true);
    // A malformed FETCH-BATCH is blamed too (the codec refuses it first; the core does not rely on that).
    r2.msg('r1', { type: 'fetch-batch', seq: 1 as unknown as bigint, digest: pp0.digest });
    expect(r2.events().some((e) => e.type === 'misbehaviour' && e.peer === 'r1' && e.kind === 'malformed')).toBe(true);
    // Another batch is ignored (it may be a late answer for an earlier view), as is an unasked one.
    r2.msg('r3', { type: 'batch', seq: 1n, batch: [req(0, 'forged')] });
    r2.msg('r3', { type: 'batch', seq: 2n, batch });
    expect(r2.sent('prepare')).toHaveLength(0);

    // Each retransmission tick asks the next holder, the old primary last.
    const holders = [asks[0]!.to];
    for (let t = 0; t < 2; t++) {
      const before = r2.out.length;
      r2.core.step({ type: 'timeout', timer: 'pbft/retransmit' });
      r2.flush();
      holders.push(...sends(r2, before).filter((s) => s.msg.type === 'fetch-batch').map((s) => s.to));
    }
    expect(holders).toEqual(['r3', 'r0', 'r1']);

    // The right batch, from anyone: the digest authenticates it.
    r2.msg('r0', { type: 'batch', seq: 1n, batch });
    const prepares = r2.sent('prepare') as VoteMsg[];
    expect(prepares).toHaveLength(1);
    expect(prepares[0]).toMatchObject({ view: 1n, seq: 1n, digest: pp0.digest });
  });

  it('a backup holding the batch prepares at once, and serves it: each seq once per peer per tick', () => {
    const r3 = new Solo('r3');
    r3.msg('r0', pp0);
    const mark = r3.out.length;
    r3.msg('r1', newView());
    expect(sends(r3, mark).filter((s) => s.msg.type === 'fetch-batch')).toHaveLength(0);
    expect((r3.sent('prepare') as VoteMsg[]).map((p) => p.view)).toEqual([0n, 1n]);

    const served = r3.out.length;
    r3.msg('r2', { type: 'fetch-batch', seq: 1n, digest: new Uint8Array(32) }); // a digest it does not hold
    for (let i = 0; i < 40; i++) r3.msg('r2', { type: 'fetch-batch', seq: 1n, digest: pp0.digest });
    const answers = sends(r3, served).filter((s) => s.msg.type === 'batch');
    expect(answers).toHaveLength(1);
    expect(answers[0]).toMatchObject({ to: 'r2', msg: { seq: 1n, batch } });
    r3.core.step({ type: 'timeout', timer: 'pbft/retransmit' });
    r3.flush();
    const after = r3.out.length;
    r3.msg('r2', { type: 'fetch-batch', seq: 1n, digest: pp0.digest });
    expect(sends(r3, after).filter((s) => s.msg.type === 'batch')).toHaveLength(1); // budget renewed
  });

  it('still serves a batch it accepted in an earlier view after a crash-restart', () => {
    const r3 = new Solo('r3');
    r3.msg('r0', pp0);
    // Into the view change to view 1: the slot of seq 1 is reset to view 1, the batch kept aside.
    for (const id of ['r0', 'r1']) r3.msg(id, viewChange(id));
    expect(r3.sent('view-change')).toHaveLength(1);
    const { core } = restartFrom(r3);
    core.step({ type: 'message', from: 'r2', msg: { type: 'fetch-batch', seq: 1n, digest: pp0.digest } });
    const answers = [];
    while (core.hasReady()) answers.push(...core.ready().send.filter((s) => s.msg.type === 'batch'));
    expect(answers).toHaveLength(1);
    expect(answers[0]).toMatchObject({ to: 'r2', msg: { seq: 1n, batch } });
  });

  it('serves at most eight batches\' worth of bytes per peer per tick', () => {
    const r3 = new Solo('r3', 4, { maxBatchBytes: 2048, maxPayloadBytes: 1000 });
    const digests: Uint8Array[] = [];
    for (let i = 1; i <= 20; i++) {
      const pp = prePrepare('r0', 0n, BigInt(i), [{ client: 'c0', seq: BigInt(i), payload: new Uint8Array(1000).fill(i) }]);
      r3.msg('r0', pp);
      digests.push(pp.digest);
    }
    const served = r3.out.length;
    digests.forEach((d, i) => r3.msg('r2', { type: 'fetch-batch', seq: BigInt(i + 1), digest: d }));
    const answers = sends(r3, served).filter((s) => s.msg.type === 'batch').length;
    // ~1 KiB each against 8 × 2 KiB: the 17th would go over.
    expect(answers).toBeGreaterThanOrEqual(15);
    expect(answers).toBeLessThanOrEqual(17);
  });

  it('keeps a batch it accepted but never prepared after the seq is reused in a later view, to serve it', () => {
    // r2 sent PREPARE for A at seq 1 in view 0 but saw no other PREPARE; view 1 fills seq 1 with
    // a null request. A later NEW-VIEW may still assign A (a Byzantine replica kept a certificate):
    // r2, one of its signers, must still be able to serve it.
    const r2 = new Solo('r2');
    r2.msg('r0', pp0);
    const empty = resign('r1', {
      type: 'new-view',
      view: 1n,
      viewChanges: [viewChange('r0'), viewChange('r1'), viewChange('r3')],
      prePrepares: [],
      signature: new Uint8Array(0),
    });
    r2.msg('r1', empty);
    r2.msg('r1', prePrepare('r1', 1n, 1n, [req(7, 'other')]));
    expect((r2.sent('prepare') as VoteMsg[]).map((p) => p.view)).toEqual([0n, 1n]);
    const mark = r2.out.length;
    r2.msg('r3', { type: 'fetch-batch', seq: 1n, digest: pp0.digest });
    expect(sends(r2, mark).filter((s) => s.msg.type === 'batch').map((s) => s.msg)).toMatchObject([{ seq: 1n, batch }]);
  });

  it('a new primary restarted while a NEW-VIEW batch is missing never reuses its seq (it proposes nothing in that view)', () => {
    const certBy23: PreparedCert = {
      prePrepare: refOf(pp0),
      prepares: ['r2', 'r3'].map((id) => ({ voter: id, signature: vote('prepare', id, 0n, 1n, pp0.digest).signature })),
    };
    const r1 = new Solo('r1', 4, { maxBatchSize: 1 }); // a full batch is proposed even with one in flight
    for (const id of ['r2', 'r3']) r1.msg(id, viewChange(id, 1n, [certBy23]));
    const nv = r1.sent('new-view') as NewViewMsg[];
    expect(nv).toHaveLength(1);
    expect(nv[0]!.prePrepares.map((p) => p.seq)).toEqual([1n]);
    const { core } = restartFrom(r1, { maxBatchSize: 1 });
    core.step({ type: 'request', request: req(50, 'fresh', 'c9') });
    core.step({ type: 'timeout', timer: 'pbft/retransmit' });
    const outs = [];
    while (core.hasReady()) outs.push(core.ready());
    // The recovery fence (see recovery.test.ts): it may have proposed seq 2 before the crash and
    // lost the record, so in view 1 it proposes nothing and relays the request to the backups.
    const sent = outs.flatMap((o) => o.send).map((s) => s.msg);
    expect(sent.filter((m) => m.type === 'pre-prepare')).toEqual([]);
    expect(sent.filter((m) => m.type === 'request')).toHaveLength(1);
    // Without the fence (a mutant), the numbering it recovered still skips the assigned seq 1.
    const { core: unfenced } = restartFrom(r1, { maxBatchSize: 1, unsafeNoRecoveryFence: true });
    unfenced.step({ type: 'request', request: req(50, 'fresh', 'c9') });
    const pps = [];
    while (unfenced.hasReady()) pps.push(...unfenced.ready().send.map((s) => s.msg).filter((m) => m.type === 'pre-prepare'));
    expect(pps.map((m) => (m as { seq: bigint }).seq)).toEqual([2n]);
  });

  it('a pre-prepare conflicting with the NEW-VIEW assignment is evidence against the primary', () => {
    const r2 = new Solo('r2');
    r2.msg('r1', newView());
    r2.msg('r1', prePrepare('r1', 1n, 1n, [req(9, 'other')]));
    expect(r2.events().some((e) => e.type === 'evidence')).toBe(true);
    expect(r2.sent('prepare')).toHaveLength(0);
    expect((r2.sent('view-change') as ViewChangeMsg[]).some((m) => m.newView === 2n)).toBe(true);
  });

  it('the primary\'s matching pre-prepare delivers the batch too', () => {
    const r2 = new Solo('r2');
    r2.msg('r1', newView());
    r2.msg('r1', prePrepare('r1', 1n, 1n, batch));
    expect((r2.sent('prepare') as VoteMsg[]).map((p) => [p.view, p.seq])).toEqual([[1n, 1n]]);
  });

  it('a replica restarted while waiting for a batch asks for it again, and keeps the assignment', () => {
    const r2 = new Solo('r2');
    r2.msg('r1', newView());
    const { core } = restartFrom(r2);
    expect(core.status().view).toBe(1n);
    core.step({ type: 'timeout', timer: 'pbft/retransmit' });
    const asks = drain(core).flatMap((o) => o.send).filter((s) => s.msg.type === 'fetch-batch');
    expect(asks.map((s) => s.msg)).toMatchObject([{ seq: 1n, digest: pp0.digest }]);
    core.step({ type: 'message', from: 'r0', msg: { type: 'batch', seq: 1n, batch } });
    const prepares = drain(core).flatMap((o) => o.send).filter((s) => s.msg.type === 'prepare');
    expect(prepares.map((s) => s.msg)).toMatchObject([{ view: 1n, seq: 1n, digest: pp0.digest }]);

    // Another restart from the same records: a different batch for seq 1 is still refused.
    const { core: again } = restartFrom(r2);
    again.step({ type: 'message', from: 'r1', msg: prePrepare('r1', 1n, 1n, [req(9, 'other')]) });
    const outs = drain(again);
    expect(outs.flatMap((o) => o.events).some((e) => e.type === 'evidence')).toBe(true);
    expect(outs.flatMap((o) => o.send).filter((s) => s.msg.type === 'prepare')).toHaveLength(0);
  });
});

describe('VIEW-CHANGEs for a view a peer has already left (sim chaos seed 0x2e)', () => {

  it('a replica that moved on re-sends its VIEW-CHANGE for the view a peer is still collecting, once', () => {
    const r0 = new Solo('r0');
    for (const id of ['r1', 'r3']) r0.msg(id, viewChange(id, 1n)); // f+1 above: joins view 1
    for (const id of ['r1', 'r3']) r0.msg(id, viewChange(id, 2n)); // and then view 2
    expect((r0.sent('view-change') as ViewChangeMsg[]).map((v) => v.newView)).toEqual([1n, 2n]);
    const mark = r0.out.length;
    r0.msg('r2', viewChange('r2', 1n)); // r2 still collecting for view 1 (it missed ours in a partition)
    r0.msg('r2', viewChange('r2', 1n));
    const resent = sends(r0, mark).filter((s) => s.msg.type === 'view-change');
    expect(resent.map((s) => [s.to, (s.msg as ViewChangeMsg).newView])).toEqual([['r2', 1n]]);
  });

  it('a re-sent VIEW-CHANGE lost too is re-sent again at the next status tick (once per peer, view and tick)', () => {
    // Loss stops only at GST: if the single re-send were lost, the peer's later retransmissions
    // would go unanswered forever and it would stay one short of 2f+1 after GST.
    const r0 = new Solo('r0');
    for (const id of ['r1', 'r3']) r0.msg(id, viewChange(id, 1n));
    for (const id of ['r1', 'r3']) r0.msg(id, viewChange(id, 2n));
    const mark = r0.out.length;
    r0.msg('r2', viewChange('r2', 1n)); // re-sent, and lost
    r0.core.step({ type: 'timeout', timer: TIMER_STATUS });
    r0.flush();
    r0.msg('r2', viewChange('r2', 1n)); // r2's retransmission, a tick later
    r0.msg('r2', viewChange('r2', 1n)); // and another within the same tick: not answered
    r0.msg('r2', viewChange('r2', 2n)); // nor alternating views (2 is r0's current one, no re-send)
    r0.msg('r2', viewChange('r2', 1n));
    const resent = sends(r0, mark).filter((s) => s.msg.type === 'view-change');
    expect(resent.map((s) => [s.to, (s.msg as ViewChangeMsg).newView])).toEqual([['r2', 1n], ['r2', 1n]]);
  });

  it('the new primary counts a peer\'s older VIEW-CHANGE for its view though it holds a newer one', () => {
    const r1 = new Solo('r1'); // primary of view 1
    r1.msg('r0', viewChange('r0', 2n)); // r0 moved on to view 2 first
    r1.msg('r3', viewChange('r3', 1n)); // f+1 above: r1 joins view 1, with 2 of the 2f+1 it needs
    expect(r1.sent('new-view')).toHaveLength(0);
    r1.msg('r0', viewChange('r0', 1n)); // r0's re-sent VIEW-CHANGE for view 1
    const nv = r1.sent('new-view') as NewViewMsg[];
    expect(nv).toHaveLength(1);
    expect(nv[0]!.viewChanges.map((v) => [v.replica, v.newView]).sort()).toEqual([['r0', 1n], ['r1', 1n], ['r3', 1n]]);
  });
});

describe('NEW-VIEW re-sent to a peer still changing views', () => {
  it('once per peer per tick, however often it asks', () => {
    const r1 = new Solo('r1'); // primary of view 1
    for (const id of ['r0', 'r3']) r1.msg(id, viewChange(id));
    expect(r1.sent('new-view')).toHaveLength(1);
    const mark = r1.out.length;
    for (let i = 0; i < 20; i++) r1.msg('r2', viewChange('r2'));
    const nvTo = (from: number) => sends(r1, from).filter((s) => s.msg.type === 'new-view').map((s) => s.to);
    expect(nvTo(mark)).toEqual(['r2']);
    r1.core.step({ type: 'timeout', timer: 'pbft/retransmit' });
    r1.flush();
    const after = r1.out.length;
    r1.msg('r2', viewChange('r2'));
    expect(nvTo(after)).toEqual(['r2']); // renewed: an answer lost on the way is answered again
  });
});

// A faulty primary may send its NEW-VIEW to some replicas only (or be isolated by some). Those
// left behind hold 2f VIEW-CHANGEs for the view (whoever entered it sent none) and so never start
// their timer (TOCS §4.5.2): any replica in the view relays the NEW-VIEW (byzantine.test.ts runs
// such a primary in a cluster).
describe('NEW-VIEW relayed by a replica that entered the view', () => {
  const changingToView1 = (id: string): Solo => {
    const s = new Solo(id);
    for (const from of ['r0', 'r3'].filter((x) => x !== id)) s.msg(from, viewChange(from));
    expect((s.sent('view-change') as ViewChangeMsg[]).map((m) => m.newView)).toEqual([1n]);
    return s;
  };
  const entered = (s: Solo, view: bigint) => s.events().some((e) => e.type === 'leader' && e.view === view);

  it('a backup that accepted the primary\'s NEW-VIEW answers a peer still asking for it, backing off', () => {
    const r0 = new Solo('r0');
    r0.msg('r1', newView());
    expect(entered(r0, 1n)).toBe(true);
    // The peer asks twice per tick for 9 ticks. The primary's answer usually settles it first, so a
    // backup answers from the second tick of asking, then after 2, 4 … ticks: a faulty peer's few
    // bytes buy a megabyte NEW-VIEW from every replica only that rarely.
    const answeredAt: number[] = [];
    for (let tick = 0; tick < 9; tick++) {
      const mark = r0.out.length;
      r0.msg('r2', viewChange('r2')).msg('r2', viewChange('r2'));
      const relayed = sends(r0, mark).filter((s) => s.msg.type === 'new-view');
      if (relayed.length > 0) answeredAt.push(tick);
      for (const s of relayed) expect([s.to, s.msg]).toEqual(['r2', newView()]);
      r0.core.step({ type: 'timeout', timer: TIMER_STATUS });
      r0.flush();
    }
    expect(answeredAt).toEqual([1, 3, 7]);
  });

  it('a replica changing views enters the view by a relayed NEW-VIEW, without blaming the relay', () => {
    const r2 = changingToView1('r2');
    r2.msg('r0', newView());
    expect(entered(r2, 1n)).toBe(true);
    expect(r2.events().filter((e) => e.type === 'misbehaviour')).toEqual([]);
  });

  it('a bad NEW-VIEW from a relay convicts the relay, and only the primary\'s own moves us past its view', () => {
    const r2 = changingToView1('r2');
    const bad = resign<NewViewMsg>('r1', { ...newView(), prePrepares: [], signature: new Uint8Array(0) }); // O does not match V
    r2.msg('r0', bad);
    expect(r2.events().filter((e) => e.type === 'misbehaviour').map((e) => e.type === 'misbehaviour' && [e.peer, e.kind])).toEqual([['r0', 'protocol-violation']]);
    expect((r2.sent('view-change') as ViewChangeMsg[]).map((m) => m.newView)).toEqual([1n]);
    // Signed by the relay, not the primary: a forgery, blamed on the relay as such.
    r2.msg('r3', resign<NewViewMsg>('r3', { ...newView(), signature: new Uint8Array(0) }));
    expect(r2.events().some((e) => e.type === 'misbehaviour' && e.peer === 'r3' && e.kind === 'invalid-signature')).toBe(true);
    expect(entered(r2, 1n)).toBe(false);
    r2.msg('r1', bad); // the primary's own bad NEW-VIEW: on to view 2 (§4.4)
    expect((r2.sent('view-change') as ViewChangeMsg[]).map((m) => m.newView)).toEqual([1n, 2n]);
    r2.msg('r0', newView()); // and a good one for the view left behind is stale
    expect(entered(r2, 1n)).toBe(false);
  });
});
