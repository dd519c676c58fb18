import { describe, expect, it } from 'vitest';
import type { NodeId, Ready } from '@phalanx/interface';
import { encode } from '@phalanx/codec';
import { sha256 } from '../src/index.js';
import type { PbftConfig, PbftCore, PbftMessage, ViewChangeMsg } from '../src/index.js';
import { CHAIN, Solo, prePrepare, req, resign, restartFrom, vote } from './craft.js';

const GENESIS = sha256(encode(['pbft/genesis', CHAIN]));
const viewChange = (by: NodeId, newView: bigint): ViewChangeMsg =>
  resign(by, { type: 'view-change', replica: by, newView, stable: { seq: 0n, digest: GENESIS, votes: [] }, prepared: [], signature: new Uint8Array(0) });
const drain = (core: PbftCore): Ready<PbftMessage>[] => {
  const outs = [];
  while (core.hasReady()) outs.push(core.ready());
  return outs;
};
const sentBy = (outs: readonly Ready<PbftMessage>[], type: PbftMessage['type']): PbftMessage[] =>
  outs.flatMap((o) => o.send.map((s) => s.msg)).filter((m) => m.type === type);

/** r1, its view-change timer expired twice with a request waiting: moving to view 1. */
const inViewChange = (): Solo => {
  const r1 = new Solo('r1', 4, { viewChangeTimeoutMs: 10 });
  r1.core.step({ type: 'request', request: req(0) });
  r1.flush();
  for (let i = 0; i < 2; i++) {
    r1.core.step({ type: 'timeout', timer: 'pbft/view-change' });
    r1.flush();
  }
  expect(r1.core.status()).toMatchObject({ view: 1n, role: 'view-change' });
  return r1;
};

describe('persistence and recovery', () => {
  it('records the pre-prepare and PREPARE in the Ready that sends the PREPARE', () => {
    const r1 = new Solo('r1');
    r1.msg('r0', prePrepare('r0', 0n, 1n, [req(0)]));
    const r = r1.out.find((x) => x.send.some((s) => s.msg.type === 'prepare'))!;
    expect(r.persist?.append.length).toBe(2);
  });

  describe('the recovery fence: own PRE-PREPAREs and PREPAREs leave before they are durable', () => {
    // A crash that loses the deferred writes: the replica forgets a vote it sent.
    const backupCrash = (config: PbftConfig = {}) => {
      const r1 = new Solo('r1', 4, config);
      r1.msg('r0', prePrepare('r0', 0n, 1n, [req(0, 'A')]));
      expect(r1.sent('prepare')).toHaveLength(1);
      const { core } = restartFrom(r1, config, 4, 'deferred');
      expect(core.status().view).toBe(0n);
      // A Byzantine primary now offers a different batch for the same (view, seq).
      core.step({ type: 'message', from: 'r0', msg: prePrepare('r0', 0n, 1n, [req(0, 'B')]) });
      return { core, outs: drain(core) };
    };

    it('a backup that lost its PREPARE sends none in the view it recovered in, and votes again in the next', () => {
      const { core, outs } = backupCrash();
      expect(sentBy(outs, 'prepare')).toEqual([]);
      // Prepared without its own PREPARE (2f of the other backups): its COMMIT still goes out.
      const b = prePrepare('r0', 0n, 1n, [req(0, 'B')]);
      for (const id of ['r2', 'r3']) core.step({ type: 'message', from: id, msg: vote('prepare', id, 0n, 1n, b.digest) });
      expect(sentBy(drain(core), 'commit')).toHaveLength(1);
      // View 1, whose primary r1 is: the fence stays behind. Its NEW-VIEW re-proposes seq 1 (O).
      for (const id of ['r2', 'r3']) core.step({ type: 'message', from: id, msg: viewChange(id, 1n) });
      const nv = sentBy(drain(core), 'new-view');
      expect(nv.map((m) => m.type === 'new-view' && m.prePrepares.map((p) => [p.view, p.seq, p.digest]))).toEqual([[[1n, 1n, b.digest]]]);
    });

    it('mutation: without the fence the restarted backup PREPAREs the other batch (equivocates)', () => {
      const { outs } = backupCrash({ unsafeNoRecoveryFence: true });
      expect(sentBy(outs, 'prepare')).toHaveLength(1);
    });

    const primaryCrash = (config: PbftConfig = {}) => {
      const r0 = new Solo('r0', 4, config);
      r0.core.step({ type: 'request', request: req(0, 'A') });
      r0.flush();
      expect(r0.sent('pre-prepare')).toHaveLength(1);
      const { core } = restartFrom(r0, config, 4, 'deferred');
      core.step({ type: 'request', request: req(0, 'B', 'c1') });
      const outs = drain(core);
      core.step({ type: 'timeout', timer: 'pbft/retransmit' });
      return { core, outs, tick: drain(core) };
    };

    it('a primary that lost its PRE-PREPARE orders nothing in its recovered view, and relays what waits to every backup', () => {
      const { outs, tick } = primaryCrash();
      expect(sentBy([...outs, ...tick], 'pre-prepare')).toEqual([]);
      const relayed = tick.flatMap((o) => o.send).filter((s) => s.msg.type === 'request');
      expect(relayed.map((s) => s.to)).toEqual(['all']);
    });

    it('mutation: without the fence the restarted primary proposes seq 1 again, with another batch', () => {
      const { outs } = primaryCrash({ unsafeNoRecoveryFence: true });
      expect(sentBy(outs, 'pre-prepare').map((m) => m.type === 'pre-prepare' && m.seq)).toEqual([1n]);
    });

    it('a PREPARE whose pre-prepare was durable is not fenced: the digest is pinned', () => {
      const r1 = new Solo('r1');
      const a = prePrepare('r0', 0n, 1n, [req(0, 'A')]);
      r1.msg('r0', a);
      r1.msg('r2', vote('prepare', 'r2', 0n, 1n, a.digest)); // prepared: the COMMIT's sync covers both records
      const { core, out } = restartFrom(r1, {}, 4, 'deferred');
      expect(out.flatMap((o) => o.send)).toEqual([]);
      // The retransmission tick re-sends a round's votes from its second tick on.
      for (let i = 0; i < 2; i++) core.step({ type: 'timeout', timer: 'pbft/retransmit' });
      const again = sentBy(drain(core), 'prepare');
      expect(again).toHaveLength(1); // its own PREPARE, re-sent as it was
      core.step({ type: 'message', from: 'r0', msg: prePrepare('r0', 0n, 1n, [req(0, 'B')]) });
      const outs = drain(core);
      expect(sentBy(outs, 'prepare')).toEqual([]);
      expect(outs.flatMap((o) => o.events).some((e) => e.type === 'evidence')).toBe(true);
    });

    it('a first start writes hard state before it sends; a replica restarted during a view change is not fenced', () => {
      const fresh = new Solo('r0');
      expect(fresh.out[0]!.persist?.hardState).toBeDefined();
      expect(fresh.out[0]!.send).toEqual([]);
      // Restarted with that hard state, the primary of view 0 is fenced in view 0...
      const { core: fenced } = restartFrom(fresh);
      fenced.step({ type: 'request', request: req(0) });
      expect(sentBy(drain(fenced), 'pre-prepare')).toEqual([]);
      // ...but with none (a first start that crashed before its first sync) it never sent a thing.
      fresh.out.length = 0;
      const { core } = restartFrom(fresh);
      core.step({ type: 'request', request: req(0) });
      expect(sentBy(drain(core), 'pre-prepare')).toHaveLength(1);
      // Recovered during a view change: it never entered that view, so it is not fenced there.
      const r1 = inViewChange();
      const { core: vc } = restartFrom(r1);
      for (const id of ['r2', 'r3']) vc.step({ type: 'message', from: id, msg: viewChange(id, 1n) });
      vc.step({ type: 'request', request: req(0) }); // requests waiting are not persisted: sent again
      const outs = drain(vc);
      expect(sentBy(outs, 'new-view')).toHaveLength(1);
      expect(sentBy(outs, 'pre-prepare')).toHaveLength(1);
    });
  });

  it('after a restart never sends a PREPARE conflicting with one it sent before (§4.2, §4.5)', () => {
    const r1 = new Solo('r1');
    r1.msg('r0', prePrepare('r0', 0n, 1n, [req(0, 'A')]));
    expect(r1.sent('prepare')).toHaveLength(1);
    const { core } = restartFrom(r1);
    // A Byzantine primary now offers a different batch for the same (view, seq).
    core.step({ type: 'message', from: 'r0', msg: prePrepare('r0', 0n, 1n, [req(0, 'B')]) });
    const outs = [];
    while (core.hasReady()) outs.push(core.ready());
    expect(outs.flatMap((o) => o.send).filter((s) => s.msg.type === 'prepare')).toHaveLength(0);
    expect(outs.flatMap((o) => o.events).some((e) => e.type === 'evidence')).toBe(true);
  });

  it('replays committed batches the application has not applied yet, and keeps the view', () => {
    const r1 = new Solo('r1');
    const pp = prePrepare('r0', 0n, 1n, [req(0)]);
    r1.msg('r0', pp);
    for (const id of ['r2', 'r3']) r1.msg(id, vote('prepare', id, 0n, 1n, pp.digest));
    for (const id of ['r2', 'r3']) r1.msg(id, vote('commit', id, 0n, 1n, pp.digest));
    expect(r1.commits()).toEqual([1n]);
    const { core, out } = restartFrom(r1);
    expect(out.flatMap((o) => o.commit).map((b) => b.height)).toEqual([1n]);
    expect(core.status().committedHeight).toBe(1n);
    expect(core.status().view).toBe(0n);
  });

  it('a replica restarted during a view change re-issues its VIEW-CHANGE for the same view', () => {
    const r1 = inViewChange();
    const { core, out } = restartFrom(r1);
    expect(core.status()).toMatchObject({ view: 1n, role: 'view-change' });
    expect(out.flatMap((o) => o.send).some((s) => s.msg.type === 'view-change' && s.msg.newView === 1n)).toBe(true);
  });
});
