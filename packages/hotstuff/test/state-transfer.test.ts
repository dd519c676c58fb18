/**
 * State transfer: a replica further behind than every peer's sync window cannot replay the blocks
 * it missed (nobody keeps them), so it installs a certified snapshot instead — f+1 checkpoint
 * signatures over (height, block, state digest) and the block's commit proof — and block sync goes
 * on from there (the PBFT approach, Castro & Liskov OSDI'99 §4.3, TOCS'02 §6.2).
 */
import { describe, expect, it } from 'vitest';
import { bytesEqual, encode } from '@phalanx/codec';
import { sha256 } from '@noble/hashes/sha2.js';
import { signVote } from '@phalanx/quorum';
import type { HotStuffConfig, HotStuffMessage } from '../src/index.js';
import { CHECKPOINT_KIND } from '../src/certificates.js';
import { STATE_TIMER } from '../src/core.js';
import { Cluster, req } from './harness.js';

/** Small windows and pieces, so a short run leaves a replica beyond the window and the state spans many pieces. */
const SMALL: Partial<HotStuffConfig> = { syncWindow: 8, snapshotInterval: 4, stateTickMs: 100, stateChunkBytes: 1024 };
const PAYLOAD = 'x'.repeat(200);

function committedAll(c: Cluster, ids: readonly string[], count: number): () => boolean {
  return () => ids.every((id) => c.nodes.get(id)!.committedRequests.size >= count);
}

/** One command at a time to the live replicas, so the chain grows by about a block per command. */
function drive(c: Cluster, ids: readonly string[], client: string, from: number, to: number): void {
  for (let i = from; i <= to; i++) {
    for (const id of ids) c.request(id, req(client, i, PAYLOAD));
    c.run({ until: () => ids.every((id) => c.nodes.get(id)!.committedRequests.has(`${client}/${i}`)), maxSteps: 50_000 });
  }
}

function events(c: Cluster, id: string) {
  return c.nodes.get(id)!.events;
}

function transfersCompleted(c: Cluster, id: string): number {
  return events(c, id).filter((e) => e.type === 'state-transfer' && e.phase === 'completed').length;
}

function blamed(c: Cluster, id: string, peer: string): string[] {
  return events(c, id).flatMap((e) => (e.type === 'misbehaviour' && e.peer === peer ? [`${e.kind}: ${e.detail}`] : []));
}

/** Brings r3 back and runs until every replica committed the 40 commands of `leaveBehind` (or the step budget ends). */
function rejoin(c: Cluster): void {
  c.start('r3');
  c.run({ until: committedAll(c, c.ids, 40), maxSteps: 100_000 });
}

type StateMsg = Extract<HotStuffMessage, { type: 'state' }>;

/**
 * Makes the first replica that sends r3 a piece of state a liar: `edit` rewrites each of its pieces
 * to r3 (undefined: drop it). Returns who that was, once known.
 */
function firstSourceLies(c: Cluster, edit: (m: StateMsg) => StateMsg | undefined): () => string {
  let liar: string | undefined;
  c.tamper = (from, to, msg) => {
    if (to !== 'r3' || msg.type !== 'state') return [{ to, msg }];
    liar ??= from;
    if (from !== liar) return [{ to, msg }];
    const out = edit(msg);
    return out ? [{ to, msg: out }] : [];
  };
  return () => liar!;
}

/** r3 down while the other three commit 40 commands (40+ blocks, five times the sync window), then back. */
function leaveBehind(config: Partial<HotStuffConfig> = SMALL, seed = 3): Cluster {
  const c = new Cluster({ n: 4, seed, config });
  c.crash('r3');
  drive(c, ['r0', 'r1', 'r2'], 'a', 1, 40);
  expect(c.committedHeight('r0')).toBeGreaterThan(40n);
  return c;
}

describe('state transfer', () => {
  it('a replica down for five sync windows installs a certified snapshot, then commits with the others', () => {
    const c = leaveBehind();
    rejoin(c);
    const r3 = c.nodes.get('r3')!;
    expect(r3.committedRequests.size).toBe(40);
    expect(transfersCompleted(c, 'r3')).toBe(1);
    // Installed at a snapshot height, its log rewritten to start at the installed block.
    expect(r3.restoredAt % 4n).toBe(0n);
    expect(r3.restoredAt).toBeGreaterThan(8n);
    expect(r3.log[0]!.index).toBe(r3.restoredAt);
    // The state is several pieces of stateChunkBytes (1 KiB): it travelled in order, in pieces.
    const pieces = ['r0', 'r1', 'r2'].flatMap((id) => c.nodes.get(id)!.sent.filter((m) => m.type === 'state'));
    expect(pieces.length).toBeGreaterThan(2);
    expect(pieces[0]!.type === 'state' && pieces[0]!.total).toBeGreaterThan(2 * 1024);
    // Then new commands commit everywhere, r3 voting like the rest; every commit proof verifies.
    drive(c, c.ids, 'b', 1, 10);
    expect(r3.committedRequests.size).toBe(50);
    c.checkAgreement(true);
    // The state r3 installed is the others' state at that height (their snapshot bytes, exactly).
    const theirs = c.nodes.get('r0')!;
    expect(theirs.snapshot).toBeDefined();
    expect(r3.committed.every((b) => b.height > r3.restoredAt)).toBe(true);
  });

  it('without snapshots (snapshotInterval 0) the same replica never catches up: the blocks it needs are gone from every window', () => {
    const c = leaveBehind({ syncWindow: 8, snapshotInterval: 0 });
    rejoin(c);
    expect(c.nodes.get('r3')!.committedRequests.size).toBe(0);
    expect(transfersCompleted(c, 'r3')).toBe(0);
  });

  it('the installed state survives a crash: the replica restarts from its snapshot and rewritten log', () => {
    const c = leaveBehind();
    rejoin(c);
    const at = c.nodes.get('r3')!.restoredAt;
    c.crash('r3');
    c.start('r3');
    expect(c.committedHeight('r3')).toBeGreaterThanOrEqual(at);
    drive(c, c.ids, 'b', 1, 10);
    expect(c.nodes.get('r3')!.committedRequests.size).toBe(50);
    expect(transfersCompleted(c, 'r3')).toBe(1); // the restart needed no second transfer
    c.checkAgreement(true);
  });

  it('a crash after the state was stored but before the log was rewritten (new snapshot, old log) recovers by transferring again', () => {
    // r3 commits the first blocks with the others, so its old log is not empty.
    const c = new Cluster({ n: 4, seed: 3, config: SMALL });
    drive(c, c.ids, 'a', 1, 6);
    c.crash('r3');
    drive(c, ['r0', 'r1', 'r2'], 'a', 7, 40);
    const r3 = c.nodes.get('r3')!;
    expect(r3.log.length).toBeGreaterThan(0);
    const oldLog = [...r3.log];
    const oldHard = r3.hardState;
    c.start('r3');
    c.run({ until: () => transfersCompleted(c, 'r3') === 1, maxSteps: 100_000 });
    // What storage holds if the process died between the Ready that carried the state (stored by
    // the runtime as its snapshot) and the next one (the log and hard state above it).
    c.crash('r3');
    r3.log = oldLog;
    r3.hardState = oldHard;
    c.start('r3');
    // A certificate for a checkpoint between the old log's end and the stored state (relayed by a
    // peer) must not take the application back: only states at or above it are fetched.
    const installed = r3.snapshot!.height;
    const votes = ['r0', 'r1', 'r2'].flatMap((id) => c.nodes.get(id)!.sent).filter((m) => m.type === 'checkpoint' && m.height < installed && m.height > oldLog[oldLog.length - 1]!.index);
    const lower = votes[votes.length - 1];
    expect(lower).toBeDefined();
    if (lower?.type !== 'checkpoint') throw new Error('unreachable');
    const bundle = votes.filter((m) => m.type === 'checkpoint' && m.height === lower.height).flatMap((m) => (m.type === 'checkpoint' ? m.votes : []));
    r3.core!.step({ type: 'message', from: 'r0', msg: { ...lower, votes: bundle.slice(0, 2) } });
    c.flush('r3');
    c.run({ maxSteps: 2_000 });
    expect(events(c, 'r3').some((e) => e.type === 'state-transfer' && e.phase === 'started' && e.height < installed)).toBe(false);
    drive(c, ['r0', 'r1', 'r2'], 'b', 1, 30);
    c.run({ until: committedAll(c, c.ids, 70), maxSteps: 100_000 });
    expect(r3.committedRequests.size).toBe(70);
    expect(transfersCompleted(c, 'r3')).toBeGreaterThanOrEqual(2);
    c.checkAgreement(true);
  });

  it('state bytes that do not match the certified digest: the source is blamed and the next signer completes the transfer', () => {
    const c = leaveBehind();
    // The first signer r3 asks corrupts every piece after the first; the first carries the
    // genuine certificate and proof, so only the assembled bytes can betray it.
    const liar = firstSourceLies(c, (m) => {
      if (m.offset === 0) return m;
      const data = m.data.slice();
      data[0] = data[0]! ^ 0xff;
      return { ...m, data };
    });
    rejoin(c);
    expect(c.nodes.get('r3')!.committedRequests.size).toBe(40);
    expect(blamed(c, 'r3', liar()).some((m) => /protocol-violation: state at height \d+ does not match its certified digest/.test(m))).toBe(true);
    expect(transfersCompleted(c, 'r3')).toBe(1);
  });

  it('a first piece whose certificate does not verify is refused before anything is buffered', () => {
    const c = leaveBehind();
    const liar = firstSourceLies(c, (m) => (m.cert ? { ...m, cert: { ...m.cert, votes: m.cert.votes.map((v) => ({ ...v, signature: v.signature.map((b) => b ^ 1) })) } } : m));
    rejoin(c);
    expect(c.nodes.get('r3')!.committedRequests.size).toBe(40);
    expect(blamed(c, 'r3', liar()).some((m) => m.startsWith('invalid-signature: state at height'))).toBe(true);
  });

  it('a certified checkpoint with a commit proof of another block is refused', () => {
    const c = leaveBehind();
    let other: Uint8Array | undefined;
    let liar: string | undefined;
    c.tamper = (from, to, msg) => {
      if (msg.type === 'state' && msg.cert) {
        // Keep the first proof seen (some earlier snapshot's block) and hand it out with a later certificate.
        other ??= msg.cert.proof;
        if (to === 'r3') liar ??= from;
        if (from === liar && to === 'r3' && !bytesEqual(other, msg.cert.proof)) return [{ to, msg: { ...msg, cert: { ...msg.cert, proof: other } } }];
      }
      return [{ to, msg }];
    };
    // An earlier snapshot's proof: r2 serves r1 once before r3 comes back.
    c.nodes.get('r2')!.core!.step({ type: 'message', from: 'r1', msg: { type: 'request-state', height: 0n, offset: 0, length: 1024 } });
    c.flush('r2');
    drive(c, ['r0', 'r1', 'r2'], 'b', 1, 12);
    c.start('r3');
    c.run({ until: committedAll(c, c.ids, 52), maxSteps: 100_000 });
    expect(c.nodes.get('r3')!.committedRequests.size).toBe(52);
    expect(blamed(c, 'r3', liar!).some((m) => /its commit proof is for another block/.test(m))).toBe(true);
  });

  it('a source that trickles a byte a tick is left for another within two ticks', () => {
    const c = leaveBehind();
    let lastAt = -Infinity;
    firstSourceLies(c, (m) => {
      if (c.now - lastAt < 150) return undefined;
      lastAt = c.now;
      return { ...m, data: m.data.subarray(0, 1) };
    });
    rejoin(c);
    expect(c.nodes.get('r3')!.committedRequests.size).toBe(40);
    expect(transfersCompleted(c, 'r3')).toBe(1);
  });

  // Every other way a source can get a piece wrong: each refused, its sender blamed, the next source asked.
  const wrongPieces: Array<[string, (m: StateMsg) => StateMsg, RegExp]> = [
    ['a commit proof that is not one', (m) => (m.cert ? { ...m, cert: { ...m.cert, proof: Uint8Array.of(1, 2, 3) } } : m), /^malformed: state at height \d+: /],
    ['a height off the snapshot interval', (m) => (m.cert ? { ...m, height: m.height + 1n } : m), /^protocol-violation: state at height \d+, not a multiple of snapshotInterval/],
    ['an empty piece before the end', (m) => (m.offset > 0 ? { ...m, data: new Uint8Array(0) } : m), /^malformed: state piece empty/],
  ];
  for (const [name, edit, blame] of wrongPieces) {
    it(`a source sending ${name} is blamed, and another completes the transfer`, () => {
      const c = leaveBehind();
      const liar = firstSourceLies(c, edit);
      rejoin(c);
      expect(c.nodes.get('r3')!.committedRequests.size).toBe(40);
      expect(blamed(c, 'r3', liar()).some((m) => blame.test(m))).toBe(true);
    });
  }

  it('a source claiming a larger state than the certified one is refused at the first piece', () => {
    const c = leaveBehind();
    const liar = firstSourceLies(c, (m) => (m.cert ? { ...m, total: m.total + 1_000_000 } : m));
    rejoin(c);
    expect(c.nodes.get('r3')!.committedRequests.size).toBe(40);
    expect(blamed(c, 'r3', liar()).some((m) => m.startsWith('invalid-signature: state at height'))).toBe(true);
  });

  it('a replica asking for larger pieces than its sources would send still judges their progress fairly (it names the size)', () => {
    const c = new Cluster({ n: 4, seed: 3, minDelay: 10, maxDelay: 20, config: { ...SMALL, syncWindow: 64 }, configFor: (id) => (id === 'r3' ? { stateChunkBytes: 16 * 1024 } : {}) });
    c.crash('r3');
    drive(c, ['r0', 'r1', 'r2'], 'a', 1, 300);
    c.start('r3');
    c.run({ until: committedAll(c, c.ids, 300), maxSteps: 200_000 });
    expect(c.nodes.get('r3')!.committedRequests.size).toBe(300);
    expect(transfersCompleted(c, 'r3')).toBe(1);
    const pieces = ['r0', 'r1', 'r2'].flatMap((id) => c.nodes.get(id)!.sent).filter((m) => m.type === 'state');
    expect(Math.max(...pieces.map((m) => (m.type === 'state' ? m.data.length : 0)))).toBe(16 * 1024);
  });

  it('the signers of the checkpoint all silent: another replica holding the state serves it', () => {
    const c = leaveBehind();
    // The signers of the certificate r3 is handed never answer its state requests: only the
    // validator that did not sign it can serve the state.
    let signers: string[] | undefined;
    c.filter = (e, msg) => {
      if (e.to === 'r3' && msg.type === 'checkpoint' && msg.votes.length > 1) signers ??= msg.votes.map((v) => v.voter);
      return !(msg.type === 'state' && e.to === 'r3' && signers?.includes(e.from));
    };
    rejoin(c);
    expect(signers).toHaveLength(2);
    expect(c.nodes.get('r3')!.committedRequests.size).toBe(40);
  });

  it('under load, a state of many more pieces than a source serves per tick still arrives (its source keeps the copy being fetched)', () => {
    const config = { syncWindow: 64, snapshotInterval: 4, stateTickMs: 100, stateChunkBytes: 1024 };
    const c = new Cluster({ n: 4, seed: 5, config });
    c.crash('r3');
    drive(c, ['r0', 'r1', 'r2'], 'a', 1, 500);
    c.start('r3');
    // The others keep committing (a new snapshot every 4 heights, several per state tick) while r3
    // fetches ~35 pieces: the transfer must finish under that load, not only once it stops.
    let sent = 0;
    while (transfersCompleted(c, 'r3') === 0 && sent < 300) drive(c, ['r0', 'r1', 'r2'], 'b', ++sent, sent);
    expect(transfersCompleted(c, 'r3')).toBe(1);
    expect(sent).toBeLessThan(300);
    c.run({ until: committedAll(c, c.ids, 500 + sent), maxSteps: 200_000 });
    expect(c.nodes.get('r3')!.committedRequests.size).toBe(500 + sent);
    const first = ['r0', 'r1', 'r2'].flatMap((id) => c.nodes.get(id)!.sent).find((m) => m.type === 'state');
    expect(first?.type === 'state' && first.total).toBeGreaterThan(32 * 1024);
  });

  it('an idle cluster tells a replica that crashed half-way through a transfer where to transfer from again', () => {
    const c = new Cluster({ n: 4, seed: 3, config: SMALL });
    drive(c, c.ids, 'a', 1, 2);
    c.crash('r3');
    drive(c, ['r0', 'r1', 'r2'], 'a', 3, 40);
    c.run({ maxSteps: 50_000 }); // quiet
    c.start('r3');
    c.run({ until: () => c.nodes.get('r3')!.sent.filter((m) => m.type === 'request-state').length >= 2, maxSteps: 50_000 });
    c.crash('r3');
    rejoin(c);
    expect(c.nodes.get('r3')!.committedRequests.size).toBe(40);
    expect(c.committedHeight('r3')).toBe(c.committedHeight('r0'));
    // And then everyone goes quiet: no timer left running anywhere.
    c.run({ maxSteps: 100_000 });
    for (const id of c.ids) expect([...c.nodes.get(id)!.timers.keys()], id).toEqual([]);
  });

  it('in an idle cluster, a restarted replica that knows a high QC but misses its blocks is told the checkpoint within a few ticks', () => {
    // r3 crashes half-way through a transfer: its hard state keeps the high QC it learned, its
    // snapshot and log stay far behind. Peers must not take it for one as far along as they are
    // (whom they re-tell their checkpoint only on one ask in 16), with or without status probes.
    for (const statusIntervalMs of [1000, 0]) {
      const c = new Cluster({ n: 4, seed: 3, config: { ...SMALL, statusIntervalMs } });
      drive(c, c.ids, 'a', 1, 2);
      c.crash('r3');
      drive(c, ['r0', 'r1', 'r2'], 'a', 3, 40);
      c.run({ maxTime: c.now + 5_000 }); // idle
      c.start('r3');
      c.run({ until: () => c.nodes.get('r3')!.sent.filter((m) => m.type === 'request-state').length >= 2, maxSteps: 50_000 });
      c.crash('r3');
      c.run({ maxTime: c.now + 2_000 });
      const t0 = c.now;
      c.start('r3');
      c.run({ until: committedAll(c, c.ids, 40), maxTime: c.now + 60_000 });
      expect(c.nodes.get('r3')!.committedRequests.size, `statusIntervalMs ${statusIntervalMs}`).toBe(40);
      expect(c.now - t0, `statusIntervalMs ${statusIntervalMs}`).toBeLessThan(3_000);
    }
  });

  it('a wiped replica whose first checkpoint answers are lost (but not the QCs) still transfers within a few ticks', () => {
    for (const statusIntervalMs of [1000, 0]) {
      const c = leaveBehind({ ...SMALL, statusIntervalMs });
      c.run({ maxTime: c.now + 5_000 }); // idle
      let dropped = 0;
      c.filter = (e, msg) => !(e.to === 'r3' && msg.type === 'checkpoint' && dropped++ < 3);
      const t0 = c.now;
      rejoin(c);
      expect(dropped, `statusIntervalMs ${statusIntervalMs}`).toBeGreaterThanOrEqual(3);
      expect(c.nodes.get('r3')!.committedRequests.size).toBe(40);
      expect(c.now - t0, `statusIntervalMs ${statusIntervalMs}`).toBeLessThan(3_000);
    }
  });

  it('a replica wiped after it had run rejoins by transfer and then goes quiet (no request for a block below its root)', () => {
    const c = leaveBehind();
    c.run({ maxSteps: 50_000 }); // quiet
    rejoin(c);
    c.run({ maxSteps: 100_000 }); // quiet again
    c.crash('r3');
    const r3 = c.nodes.get('r3')!;
    Object.assign(r3, { hardState: undefined, log: [], snapshot: undefined, snapshotHeight: 0n, restoredAt: 0n, committed: [], committedRequests: new Set() });
    rejoin(c);
    expect(r3.committedRequests.size).toBe(40);
    c.run({ maxSteps: 100_000 });
    for (const id of c.ids) expect([...c.nodes.get(id)!.timers.keys()], id).toEqual([]);
  });

  it('a replica with a wiped disk joins an idle cluster by state transfer, even if its first STATUS broadcast is lost', () => {
    const c = leaveBehind();
    c.run({ maxSteps: 50_000 }); // quiet
    let dropped = 0;
    c.filter = (e, msg) => !(e.from === 'r3' && msg.type === 'status' && dropped++ < 3);
    rejoin(c); // never ran: no log, no hard state, no snapshot
    expect(dropped).toBeGreaterThanOrEqual(3);
    expect(c.nodes.get('r3')!.committedRequests.size).toBe(40);
    expect(transfersCompleted(c, 'r3')).toBe(1);
    // And then everyone goes quiet: r3's high QC (genesis) lies below its installed root, and the
    // block it certifies is nowhere served, so it must not be asked for (with a view timer) for ever.
    c.run({ maxSteps: 100_000 });
    for (const id of c.ids) expect([...c.nodes.get(id)!.timers.keys()], id).toEqual([]);
  });

  it('commands the installed state covers leave the pool: the replica goes quiet with the others', () => {
    const c = new Cluster({ n: 4, seed: 7, config: SMALL });
    // r3 cut off from the replicas (not from clients) while 40 commands commit.
    let cut = true;
    c.filter = (e) => !cut || (e.from !== 'r3' && e.to !== 'r3');
    for (let i = 1; i <= 40; i++) {
      for (const id of c.ids) c.request(id, req('a', i, PAYLOAD));
      c.run({ until: committedAll(c, ['r0', 'r1', 'r2'], i), maxSteps: 50_000 });
    }
    expect(c.nodes.get('r3')!.core!.status().detail!['mempool']).toBeGreaterThan(0);
    cut = false;
    c.run({ until: committedAll(c, c.ids, 40), maxSteps: 100_000 });
    expect(transfersCompleted(c, 'r3')).toBe(1);
    c.run({ maxSteps: 100_000 });
    expect(c.nodes.get('r3')!.core!.status().detail!['mempool']).toBe(0);
    for (const id of c.ids) expect([...c.nodes.get(id)!.timers.keys()], id).toEqual([]);
  });

  it('a restarted cluster signs its stored snapshots again, so a laggard can transfer before the next snapshot height', () => {
    const c = leaveBehind();
    // Everyone restarts (votes are not persisted) and the cluster stays idle: only the recovered
    // snapshots can be served.
    for (const id of ['r0', 'r1', 'r2']) c.crash(id);
    for (const id of c.ids) c.start(id);
    c.run({ until: committedAll(c, c.ids, 40), maxSteps: 100_000 });
    expect(c.nodes.get('r3')!.committedRequests.size).toBe(40);
    expect(transfersCompleted(c, 'r3')).toBe(1);
  });
});

describe('checkpoints and serving (one replica stepped by hand)', () => {
  /** A cluster where every replica holds a served, certified state. */
  function served(): Cluster {
    const c = new Cluster({ n: 4, seed: 9, config: SMALL });
    drive(c, c.ids, 'a', 1, 12);
    c.run({ maxSteps: 20_000 });
    for (const id of c.ids) expect(c.nodes.get(id)!.core!.status().detail!['servedStateHeight']).toBeGreaterThan(0n);
    return c;
  }

  function stepAt(c: Cluster, id: string, from: string, msg: HotStuffMessage): HotStuffMessage[] {
    const node = c.nodes.get(id)!;
    const before = node.sent.length;
    node.core!.step({ type: 'message', from, msg });
    c.flush(id);
    return node.sent.slice(before);
  }

  it('serves one first piece and at most 32 pieces to one peer per state tick, then more after the tick', () => {
    const c = served();
    const height = c.nodes.get('r0')!.core!.status().detail!['servedStateHeight'] as bigint;
    const first: HotStuffMessage = { type: 'request-state', height: 0n, offset: 0, length: 1024 };
    const next: HotStuffMessage = { type: 'request-state', height, offset: 1, length: 16 };
    const count = (from: string, m: HotStuffMessage, times: number): number => {
      let pieces = 0;
      for (let i = 0; i < times; i++) pieces += stepAt(c, 'r0', from, m).filter((x) => x.type === 'state').length;
      return pieces;
    };
    // The first piece carries the commit proof: one per peer and tick.
    expect(count('r1', first, 5)).toBe(1);
    expect(count('r1', next, 100)).toBe(31);
    // Another peer has its own budget.
    expect(count('r2', next, 1)).toBe(1);
    c.nodes.get('r0')!.core!.step({ type: 'timeout', timer: STATE_TIMER });
    c.flush('r0');
    expect(count('r1', first, 1)).toBe(1);
    expect(count('r1', next, 1)).toBe(1);
  });

  it('blames a checkpoint vote with a bad signature, and one off the snapshot interval', () => {
    const c = served();
    const block = new Uint8Array(32).fill(1);
    const state = new Uint8Array(32).fill(2);
    stepAt(c, 'r0', 'r1', { type: 'checkpoint', height: 400n, block, state, size: 10, votes: [{ voter: 'r1', signature: new Uint8Array(32) }] });
    stepAt(c, 'r0', 'r1', { type: 'checkpoint', height: 401n, block, state, size: 10, votes: [{ voter: 'r1', signature: new Uint8Array(32) }] });
    const blames = blamed(c, 'r0', 'r1');
    expect(blames).toContain('invalid-signature: checkpoint at height 400');
    expect(blames.some((m) => m.startsWith('protocol-violation: checkpoint at height 401'))).toBe(true);
  });

  it('one validly signed vote for a made-up state certifies nothing: f+1 are needed', () => {
    const c = served();
    const r0 = c.nodes.get('r0')!.core!;
    const before = r0.status().detail!['checkpointHeight'];
    const block = new Uint8Array(32).fill(7);
    const state = new Uint8Array(32).fill(8);
    // r1 is Byzantine: it signs a checkpoint far ahead for a block and state nobody has.
    const signer = c.signers.get('r1')!;
    const body = { kind: CHECKPOINT_KIND, height: 400n, round: 0n, digest: checkpointDigest(block, state, 10) };
    const signature = signVote(signer, 'test', 'r1', body).signature;
    stepAt(c, 'r0', 'r1', { type: 'checkpoint', height: 400n, block, state, size: 10, votes: [{ voter: 'r1', signature }] });
    expect(blamed(c, 'r0', 'r1')).toEqual([]);
    expect(r0.status().detail!['checkpointHeight']).toBe(before);
    // Relayed as a "certificate" of that one vote: refused, and the relayer blamed.
    stepAt(c, 'r0', 'r2', { type: 'checkpoint', height: 400n, block, state, size: 10, votes: [{ voter: 'r1', signature }] });
    expect(blamed(c, 'r0', 'r2').some((m) => m.startsWith('invalid-signature: certificate carries voting power 1, needs 2'))).toBe(true);
    expect(r0.status().detail!['checkpointHeight']).toBe(before);
  });

  it('an idle cluster with status probes sends a checkpoint on about one probe in 16, not on each', () => {
    const c = new Cluster({ n: 4, seed: 9, config: { ...SMALL, statusIntervalMs: 1000 } });
    drive(c, c.ids, 'a', 1, 12);
    c.run({ maxTime: c.now + 5_000 }); // settle: checkpoints certified, the last blocks committed
    const count = (type: string) => c.ids.reduce((n, id) => n + c.nodes.get(id)!.sent.filter((m) => m.type === type).length, 0);
    const [status, checkpoint] = [count('status'), count('checkpoint')];
    c.run({ maxTime: c.now + 64_000 });
    // Four replicas probing once a second for 64 s: 256 STATUS, and at most about 256 / 16 re-tells.
    expect(count('status') - status).toBeGreaterThanOrEqual(250);
    expect(count('checkpoint') - checkpoint).toBeLessThanOrEqual(24);
    for (const id of c.ids) expect(c.committedHeight(id)).toBe(c.committedHeight('r0'));
  });

  it('answers a status request with its certified checkpoint, once per peer and state tick', () => {
    const c = served();
    const r0 = c.nodes.get('r0')!.core!;
    // Verified QCs as the askers': an early proposal's justify (behind what r0 committed) and a
    // recent one (as far along as r0).
    const proposals = c.ids
      .flatMap((id) => c.nodes.get(id)!.sent)
      .filter((m): m is Extract<HotStuffMessage, { type: 'proposal' }> => m.type === 'proposal')
      .sort((x, y) => (x.block.height < y.block.height ? -1 : x.block.height > y.block.height ? 1 : 0));
    const low = proposals[1]!.block.justify;
    const high = proposals[proposals.length - 1]!.block.justify;
    expect(low.height).toBeLessThan(r0.status().committedHeight);
    expect(high.height).toBeGreaterThanOrEqual(r0.status().committedHeight);
    const ask = (from: string, qc: typeof low) => stepAt(c, 'r0', from, { type: 'status', highQC: qc, reply: true }).filter((m) => m.type === 'checkpoint');
    const tick = () => {
      r0.step({ type: 'timeout', timer: STATE_TIMER });
      c.flush('r0');
    };
    // Behind: told, once per peer and state tick.
    const first = ask('r3', low);
    expect(first).toHaveLength(1);
    expect((first[0] as Extract<HotStuffMessage, { type: 'checkpoint' }>).votes.length).toBeGreaterThanOrEqual(2);
    expect((first[0] as Extract<HotStuffMessage, { type: 'checkpoint' }>).height).toBe(r0.status().detail!['checkpointHeight']);
    expect(ask('r3', low)).toHaveLength(0);
    tick();
    expect(ask('r3', low)).toHaveLength(1);
    // As far along (an idle peer's periodic probe): told on its first ask, then on every 16th only
    // (r2 asked before, at its start, so the count does not begin here).
    const told: number[] = [];
    for (let i = 1; i <= 40; i++) {
      if (ask('r2', high).length > 0) told.push(i);
      tick();
    }
    expect(told.length).toBeGreaterThanOrEqual(2);
    expect(told.slice(1).map((x, k) => x - told[k]!)).toEqual(told.slice(1).map(() => 16));
  });
});

/** The digest checkpoint votes sign (the core's `checkpointDigest` with the default SHA-256 hasher). */
function checkpointDigest(block: Uint8Array, state: Uint8Array, size: number): Uint8Array {
  return sha256(encode([block, state, size]));
}
