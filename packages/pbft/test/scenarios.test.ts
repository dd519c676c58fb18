import { describe, expect, it } from 'vitest';
import { Cluster } from './cluster.js';

/** Some replica applied `count` requests and every replica in `ids` reached its height (a replica
 * restored from a snapshot no longer lists the requests below it, so heights are compared). */
const done = (c: Cluster, count: number, ids = c.ids) => () => {
  const ref = ids.map((id) => c.node(id)).find((n) => n.app.applied.length >= count);
  return ref !== undefined && c.committedAll(ref.core.status().committedHeight, ids);
};

describe('checkpoints and garbage collection (§4.3)', () => {
  it('makes checkpoints stable at 2f+1, compacts the log and advances the watermarks', () => {
    const c = new Cluster({ n: 4, config: { checkpointInterval: 5, maxBatchSize: 1 } });
    for (let i = 0; i < 23; i++) c.request('r0');
    expect(c.runUntil(done(c, 23))).toBe(true);
    c.runUntil(() => false, 2000, c.now + 1000);
    for (const id of c.ids) {
      const st = c.node(id).core.status();
      expect(st.detail?.stableCheckpoint).toBe(20n);
      expect(st.detail?.highWatermark).toBe(30n);
      expect(Number(st.detail?.inFlight)).toBeLessThanOrEqual(3);
      expect(c.node(id).events.some((e) => e.type === 'checkpoint' && e.height === 20n)).toBe(true);
      // compaction reached the disk: nothing at or below the stable checkpoint is kept
      expect(c.node(id).disk.log.length).toBeLessThan(3 * 4 * 4);
    }
    c.checkAgreement();
    c.checkHealthy();
  });
});

describe('view change (§4.4, §4.5.2)', () => {
  it('replaces a crashed primary and keeps committing', () => {
    const c = new Cluster({ n: 4 });
    c.request('r0');
    expect(c.runUntil(done(c, 1))).toBe(true);
    c.crash('r0');
    for (let i = 0; i < 5; i++) c.request('all');
    const live = ['r1', 'r2', 'r3'];
    expect(c.runUntil(done(c, 6, live))).toBe(true);
    for (const id of live) expect(c.node(id).core.status().view).toBe(1n);
    for (const id of live) expect(c.node(id).events.some((e) => e.type === 'view-change' && e.to === 1n)).toBe(true);
    c.checkAgreement();
    c.checkHealthy(live);
  });

  it('goes through several view changes in a row (n=7, two crashed primaries)', () => {
    const c = new Cluster({ n: 7 });
    c.crash('r0');
    c.crash('r1');
    for (let i = 0; i < 3; i++) c.request('all');
    const live = c.ids.filter((x) => x !== 'r0' && x !== 'r1');
    expect(c.runUntil(done(c, 3, live))).toBe(true);
    for (const id of live) expect(c.node(id).core.status().view).toBe(2n);
    c.checkAgreement();
    c.checkHealthy(live);
  });

  it('joins a view change after f+1 VIEW-CHANGE messages for higher views (TOCS §4.5.2)', () => {
    const c = new Cluster({ n: 4 });
    c.request('r0');
    expect(c.runUntil(done(c, 1))).toBe(true);
    // r1 and r2 time out (a request only they saw); r3 never saw it and has no timer running.
    c.filter = (p) => p.to !== 'r0' && p.from !== 'r0';
    c.deliverRequest('r1', { client: 'x', seq: 0n, payload: new Uint8Array(1) });
    c.deliverRequest('r2', { client: 'x', seq: 0n, payload: new Uint8Array(1) });
    expect(c.node('r3').timers.has('pbft/view-change')).toBe(false);
    c.runUntil(() => c.node('r3').core.status().view >= 1n);
    const vc = c.node('r3').events.find((e) => e.type === 'view-change');
    expect(vc).toMatchObject({ to: 1n, reason: 'f+1 replicas moved on' });
  });
});

describe('dedupe (§4.1)', () => {
  it('never executes one (client, seq) twice: retries, duplicates at every replica, re-proposal', () => {
    const c = new Cluster({ n: 4 });
    const r = c.request('all');
    c.deliverRequest('all', r);
    expect(c.runUntil(done(c, 1))).toBe(true);
    c.deliverRequest('all', r); // retry after execution
    c.request('all');
    expect(c.runUntil(done(c, 2))).toBe(true);
    c.runUntil(() => false, 5000, c.now + 2000);
    for (const id of c.ids) expect(c.node(id).app.applied.length).toBe(2);
    c.checkHealthy();
  });
});

describe('faulty networks', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`survives loss, duplication and reordering (seed ${seed})`, () => {
      const c = new Cluster({ n: 4, seed, reorder: true, loss: 0.1, dup: 0.1, config: { checkpointInterval: 4 } });
      for (let i = 0; i < 12; i++) c.request('all');
      expect(c.runUntil(done(c, 12), 400_000)).toBe(true);
      c.checkAgreement();
      c.checkHealthy();
    });
  }

  it('2/2 partition stalls, heal makes progress', () => {
    const c = new Cluster({ n: 4 });
    const side = (id: string) => id === 'r0' || id === 'r1';
    c.filter = (p) => side(p.from) === side(p.to);
    for (let i = 0; i < 3; i++) c.request('all');
    c.runUntil(() => false, 20_000, 5_000);
    for (const id of c.ids) expect(c.node(id).app.applied.length).toBe(0);
    c.filter = () => true;
    expect(c.runUntil(done(c, 3), 200_000, c.now + 600_000)).toBe(true);
    c.checkAgreement();
    c.checkHealthy();
  });
});

describe('crash-restart and state transfer', () => {
  for (const victim of ['r0', 'r1', 'r2', 'r3']) {
    it(`restarts ${victim} from its persisted log and catches up`, () => {
      const c = new Cluster({ n: 4, config: { checkpointInterval: 4 } });
      for (let i = 0; i < 6; i++) c.request('all');
      expect(c.runUntil(done(c, 6))).toBe(true);
      c.crash(victim);
      for (let i = 0; i < 6; i++) c.request('all');
      const others = c.ids.filter((x) => x !== victim);
      expect(c.runUntil(done(c, 12, others), 200_000)).toBe(true);
      c.restart(victim);
      for (let i = 0; i < 6; i++) c.request('all');
      expect(c.runUntil(done(c, 18, others), 300_000)).toBe(true);
      const top = () => c.node(others[0]!).core.status().committedHeight;
      expect(c.runUntil(() => c.committedAll(top()), 300_000)).toBe(true);
      c.checkAgreement();
      c.checkHealthy(others);
    });
  }

  it('a lagging replica catches up by state transfer past garbage-collected checkpoints', () => {
    const c = new Cluster({ n: 4, config: { checkpointInterval: 4, maxBatchSize: 1 } });
    c.filter = (p) => p.to !== 'r3' && p.from !== 'r3';
    for (let i = 0; i < 30; i++) c.request('r0');
    const others = ['r0', 'r1', 'r2'];
    expect(c.runUntil(done(c, 30, others))).toBe(true);
    expect(c.node('r0').core.status().detail?.stableCheckpoint).toBeGreaterThanOrEqual(24n);
    c.filter = () => true;
    for (let i = 0; i < 10; i++) c.request('r0');
    expect(c.runUntil(() => c.node('r3').core.status().committedHeight >= 40n, 400_000)).toBe(true);
    const ev = c.node('r3').events.filter((e) => e.type === 'state-transfer');
    expect(ev.some((e) => e.phase === 'completed')).toBe(true);
    c.checkAgreement();
  });
});
