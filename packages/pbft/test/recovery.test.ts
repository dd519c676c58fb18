import { describe, expect, it } from 'vitest';
import { Solo, prePrepare, req, restartFrom, vote } from './craft.js';

describe('persistence and recovery', () => {
  it('persists the pre-prepare and PREPARE in the same Ready as the send (persist before send)', () => {
    const r1 = new Solo('r1');
    r1.msg('r0', prePrepare('r0', 0n, 1n, [req(0)]));
    const r = r1.out.find((x) => x.send.some((s) => s.msg.type === 'prepare'))!;
    expect(r.persist?.append.length).toBe(2);
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
    const r1 = new Solo('r1', 4, { viewChangeTimeoutMs: 10 });
    r1.core.step({ type: 'request', request: req(0) });
    r1.flush();
    for (let i = 0; i < 2; i++) {
      r1.core.step({ type: 'timeout', timer: 'pbft/view-change' });
      r1.flush();
    }
    expect(r1.core.status().role).toBe('view-change');
    const { core, out } = restartFrom(r1);
    expect(core.status()).toMatchObject({ view: 1n, role: 'view-change' });
    expect(out.flatMap((o) => o.send).some((s) => s.msg.type === 'view-change' && s.msg.newView === 1n)).toBe(true);
  });
});
