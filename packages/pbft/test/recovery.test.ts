import { describe, expect, it } from 'vitest';
import { decode, encode } from '@phalanx/codec';
import type { Value } from '@phalanx/codec';
import { DecodeError } from '@phalanx/interface';
import type { PbftConfig } from '../src/index.js';
import { Solo, drain, prePrepare, req, resign, restartFrom, sentBy, survivors, viewChange, vote } from './craft.js';

/** r0, view 0's primary, with seq 1 proposed: its PRE-PREPARE (of batch A) sent, its record deferred. */
const proposed = (config: PbftConfig = {}): Solo => {
  const r0 = new Solo('r0', 4, config);
  r0.core.step({ type: 'request', request: req(0, 'A') });
  r0.flush();
  expect(r0.sent('pre-prepare')).toHaveLength(1);
  return r0;
};

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
      const { core } = restartFrom(proposed(config), config, 4, 'deferred');
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

    it('a pre-prepare restored from an older view pins nothing: no PREPARE for another digest in the recovered view', () => {
      const r2 = new Solo('r2');
      const a = prePrepare('r0', 0n, 1n, [req(0, 'A')]);
      r2.msg('r0', a);
      r2.msg('r3', vote('prepare', 'r3', 0n, 1n, a.digest)); // prepared in view 0: durable with its COMMIT
      // View 1 (primary r1) from VIEW-CHANGEs that prepared nothing: seq 1 is proposed afresh.
      const vcs = ['r0', 'r1', 'r3'].map((id) => viewChange(id, 1n));
      r2.msg('r1', resign('r1', { type: 'new-view', view: 1n, viewChanges: vcs, prePrepares: [], signature: new Uint8Array(0) }));
      expect(r2.core.status().view).toBe(1n);
      r2.msg('r1', prePrepare('r1', 1n, 1n, [req(0, 'B')]));
      expect(r2.sent('prepare').filter((m) => m.type === 'prepare' && m.view === 1n)).toHaveLength(1); // lost in the crash
      const { core } = restartFrom(r2, {}, 4, 'deferred');
      expect(core.status().view).toBe(1n);
      core.step({ type: 'message', from: 'r1', msg: prePrepare('r1', 1n, 1n, [req(0, 'C')]) });
      expect(sentBy(drain(core), 'prepare')).toEqual([]);
    });

    it('a second crash in the same view keeps the fence', () => {
      const r0 = proposed();
      const first = restartFrom(r0, {}, 4, 'deferred');
      first.core.step({ type: 'request', request: req(0, 'B', 'c1') });
      const firstOut = [...first.out, ...drain(first.core)];
      expect(sentBy(firstOut, 'pre-prepare')).toEqual([]);
      // What the second restart finds: r0's durable writes, then the first restart's.
      const { core } = restartFrom({ id: 'r0', out: [...survivors(r0.out), ...firstOut] }, {}, 4, 'deferred');
      core.step({ type: 'request', request: req(0, 'C', 'c2') });
      expect(sentBy(drain(core), 'pre-prepare')).toEqual([]);
    });

    describe('a clean stop (the runtime steps `stop` after its last sync) needs no fence', () => {
      const stopped = (s: Solo): Solo => {
        s.core.step({ type: 'stop' });
        s.flush();
        return s;
      };

      it('a primary and a backup restarted after a clean stop vote at once', () => {
        const full = { maxBatchSize: 1 }; // a full batch is proposed even with seq 1 in flight
        const r0 = proposed(full);
        const last = stopped(r0).out[r0.out.length - 1]!;
        expect(last.persist?.hardState).toBeDefined();
        expect(last.send).toEqual([]);
        const p = restartFrom(r0, full).core;
        p.step({ type: 'request', request: req(1, 'B') });
        expect(sentBy(drain(p), 'pre-prepare')).toHaveLength(1);

        const r1 = new Solo('r1');
        r1.msg('r0', prePrepare('r0', 0n, 1n, [req(0, 'A')]));
        const b = restartFrom(stopped(r1)).core;
        b.step({ type: 'message', from: 'r0', msg: prePrepare('r0', 0n, 2n, [req(1, 'B')]) });
        expect(sentBy(drain(b), 'prepare')).toHaveLength(1);
      });

      it('takes no input after stop, and a crash after the clean restart is fenced again', () => {
        const r1 = stopped(new Solo('r1'));
        const mark = r1.out.length;
        r1.msg('r0', prePrepare('r0', 0n, 1n, [req(0, 'A')]));
        expect(r1.out.length).toBe(mark);
        const first = restartFrom(r1);
        // Its first Ready clears the mark, synced (not deferrable) before anything it sends.
        expect(first.out[0]!.persist?.hardState).toBeDefined();
        expect(first.out[0]!.persist?.deferrable).toBeUndefined();
        first.core.step({ type: 'message', from: 'r0', msg: prePrepare('r0', 0n, 1n, [req(0, 'A')]) });
        const firstOut = [...first.out, ...drain(first.core)];
        expect(sentBy(firstOut, 'prepare')).toHaveLength(1);
        const { core } = restartFrom({ id: 'r1', out: [...r1.out, ...firstOut] }, {}, 4, 'deferred');
        core.step({ type: 'message', from: 'r0', msg: prePrepare('r0', 0n, 1n, [req(0, 'B')]) });
        expect(sentBy(drain(core), 'prepare')).toEqual([]);
      });

      it('a run still fenced writes no mark: a crash, a clean stop, and the next start is fenced yet', () => {
        // The primary lost its PRE-PREPARE for seq 1 in a crash; the fenced run after it stops cleanly.
        const r0 = proposed();
        const fencedRun = restartFrom(r0, {}, 4, 'deferred');
        fencedRun.core.step({ type: 'stop' });
        const third = restartFrom({ id: 'r0', out: [...survivors(r0.out), ...fencedRun.out, ...drain(fencedRun.core)] }).core;
        third.step({ type: 'request', request: req(0, 'B', 'c1') });
        expect(sentBy(drain(third), 'pre-prepare')).toEqual([]);
        // The same for a backup that lost its PREPARE(A).
        const r1 = new Solo('r1');
        r1.msg('r0', prePrepare('r0', 0n, 1n, [req(0, 'A')]));
        const fencedBackup = restartFrom(r1, {}, 4, 'deferred');
        fencedBackup.core.step({ type: 'stop' });
        const next = restartFrom({ id: 'r1', out: [...survivors(r1.out), ...fencedBackup.out, ...drain(fencedBackup.core)] }).core;
        next.step({ type: 'message', from: 'r0', msg: prePrepare('r0', 0n, 1n, [req(0, 'B')]) });
        expect(sentBy(drain(next), 'prepare')).toEqual([]);
      });

      it('hard state written before the mark existed (9 fields) is fenced', () => {
        const r0 = stopped(new Solo('r0'));
        const last = r0.out[r0.out.length - 1]!;
        const fields = decode(last.persist!.hardState!) as Value[];
        expect(fields).toHaveLength(10);
        const old = { ...last, persist: { ...last.persist!, hardState: encode(fields.slice(0, 9)) } };
        const { core } = restartFrom({ id: 'r0', out: [...r0.out.slice(0, -1), old] });
        core.step({ type: 'request', request: req(0) });
        expect(sentBy(drain(core), 'pre-prepare')).toEqual([]);
      });

      it('a clean-stop mark that is not a boolean refuses to start, naming the field', () => {
        const r0 = stopped(new Solo('r0'));
        const last = r0.out[r0.out.length - 1]!;
        const fields = decode(last.persist!.hardState!) as Value[];
        const bad = { ...last, persist: { ...last.persist!, hardState: encode([...fields.slice(0, 9), 1n]) } };
        expect(() => restartFrom({ id: 'r0', out: [...r0.out.slice(0, -1), bad] })).toThrow(
          expect.objectContaining({ constructor: DecodeError, message: expect.stringContaining('hardState.cleanStop') }),
        );
      });
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
