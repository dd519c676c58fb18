/**
 * Recovery of the uncommitted chain. Only committed blocks reach the log; the certified blocks
 * above the committed root (up to the high QC's block) and the blocks a replica voted for travel in
 * the hard state (v2), so that a whole-cluster restart does not leave every replica with a high QC
 * on a block nobody holds (HotStuff, Yin et al. PODC'19, §4–5, assumes replicas keep the blocks
 * they voted for).
 */
import { describe, expect, it } from 'vitest';
import { DecodeError } from '@phalanx/interface';
import { decode, encode, readArray, readMap, toHex } from '@phalanx/codec';
import type { Value } from '@phalanx/codec';
import { qcFromValue } from '../src/codec.js';
import { encodeCommitProof, framedBlockValue, proofTarget } from '../src/proof.js';
import { MAX_DURABLE_BLOCKS, roundRobin, sha256Hasher } from '../src/index.js';
import { Cluster, proofBlockKey, req } from './harness.js';
import { Solo } from './solo.js';
import type { Made } from './craft.js';

function allCommitted(c: Cluster, ids: string[], count: number): () => boolean {
  return () => ids.every((id) => c.nodes.get(id)!.committedRequests.size >= count);
}

/** The high QC a replica stored (v1 and v2 hard states alike). */
function storedHighQC(c: Cluster, id: string): { height: bigint; block: string } | undefined {
  const hs = c.nodes.get(id)!.hardState;
  if (!hs) return undefined;
  const qc = qcFromValue(readMap(decode(hs), 'hardState').high, 'high');
  return { height: qc.height, block: toHex(qc.block) };
}

function maxCommitted(c: Cluster): bigint {
  return c.ids.reduce((m, id) => (c.committedHeight(id) > m ? c.committedHeight(id) : m), 0n);
}

/** Every command committed at most once on every replica, and the same ones everywhere. */
function expectExactlyOnce(c: Cluster, want: Set<string>): void {
  for (const id of c.ids) {
    const keys = c.committedKeys(id);
    expect(new Set(keys).size, `${id} committed a command twice`).toBe(keys.length);
    expect(new Set(keys)).toEqual(want);
  }
}

describe('whole-cluster restart (uncommitted chain in the hard state)', () => {
  for (const commitRule of ['three-chain', 'two-chain'] as const) {
    it(`${commitRule}: all four replicas crash while certified blocks are uncommitted; after restart those blocks commit, then new commands`, () => {
      const c = new Cluster({ n: 4, seed: 41, config: { maxBlockCommands: 4, commitRule } });
      // A QC on the block one (two-chain) or two (three-chain) above the last committed one.
      const gap = commitRule === 'three-chain' ? 2n : 1n;
      const first = Array.from({ length: 40 }, (_, i) => req('a', i + 1));
      for (const r of first) c.request(c.ids[Number(r.seq % 4n)]!, r); // clients spread over the replicas
      // Stop the world once some commands are acknowledged and the highest QC anyone stored certifies
      // a block above everything committed anywhere: the blocks between live only in memory unless
      // the hard state carries them.
      let highest: { height: bigint; block: string } | undefined;
      c.run({
        until: () => {
          if (!c.ids.some((id) => c.nodes.get(id)!.committedRequests.size >= 8)) return false;
          highest = undefined;
          for (const id of c.ids) {
            const h = storedHighQC(c, id);
            if (h && (!highest || h.height > highest.height)) highest = h;
          }
          return highest !== undefined && highest.height >= maxCommitted(c) + gap;
        },
      });
      expect(highest!.height).toBeGreaterThanOrEqual(maxCommitted(c) + gap);
      const acknowledged = new Set(c.ids.flatMap((id) => c.committedKeys(id)));
      expect(acknowledged.size).toBeGreaterThan(0);
      expect(acknowledged.size).toBeLessThan(first.length);
      for (const id of c.ids) c.crash(id);
      expect(c.queue).toEqual([]);
      for (const id of c.ids) c.start(id);
      // The certified block nobody had committed is recovered and commits by the normal rule
      // (leaders propose on the high QC); then fresh commands and client retries go through.
      const second = Array.from({ length: 12 }, (_, i) => req('b', i + 1));
      for (const r of second) c.request('r1', r);
      for (const r of first) if (!acknowledged.has(`${r.client}/${r.seq}`)) c.requestAll(r); // client retries
      const want = new Set([...first, ...second].map((r) => `${r.client}/${r.seq}`));
      c.run({ until: allCommitted(c, c.ids, want.size), maxSteps: 100_000 });
      for (const id of c.ids) expect(c.nodes.get(id)!.committedRequests.size, `${id} stalled`).toBe(want.size);
      expectExactlyOnce(c, want);
      // The block the highest stored QC certified is now committed everywhere (recovered, not re-proposed).
      for (const id of c.ids) expect(c.nodes.get(id)!.committed.map((b) => proofBlockKey(b.proof!))).toContain(highest!.block);
      c.checkAgreement(true);
    });
  }

  it('an idle cluster (the last QCs carried, nothing pending) restarts as a whole and commits again', () => {
    const c = new Cluster({ n: 4, seed: 42 });
    const first = Array.from({ length: 10 }, (_, i) => req('a', i + 1));
    for (const r of first) c.request('r0', r);
    c.run({ until: allCommitted(c, c.ids, 10) });
    c.run({ maxSteps: 50_000 }); // quiet: the two blocks above the last committed one are only certified
    expect(c.queue).toEqual([]);
    const high = storedHighQC(c, 'r0')!;
    expect(high.height).toBeGreaterThan(maxCommitted(c));
    for (const id of c.ids) c.crash(id);
    for (const id of c.ids) c.start(id);
    const second = Array.from({ length: 10 }, (_, i) => req('b', i + 1));
    for (const r of second) c.request('r2', r);
    c.run({ until: allCommitted(c, c.ids, 20), maxSteps: 100_000 });
    for (const id of c.ids) expect(c.nodes.get(id)!.committedRequests.size, `${id} stalled`).toBe(20);
    expectExactlyOnce(c, new Set([...first, ...second].map((r) => `${r.client}/${r.seq}`)));
    c.checkAgreement(true);
  });
});

/** Feeds a straight chain (each block justified by the QC on the one before; a TC where views skip). */
function chain(s: Solo, views: bigint[]): Made[] {
  const out: Made[] = [];
  let qc = s.craft.genesis;
  let prev = 0n;
  for (const v of views) {
    const tc = v === prev + 1n ? undefined : s.craft.tc(v - 1n, qc);
    const m = s.craft.block(qc, v, [req('c', Number(v))]);
    s.from(m.block.proposer, s.craft.proposal(m, tc));
    out.push(m);
    qc = s.craft.qc(m);
    prev = v;
  }
  return out;
}

/** Hashes of the blocks a hard state carries, in stored order. */
function storedBlocks(hs: Uint8Array): string[] {
  const m = readMap(decode(hs, { maxBytes: hs.length }), 'hardState');
  if (m.v !== 2) throw new Error(`hard state v${String(m.v)}`);
  return readArray(m.blocks, 'blocks').map((b) => toHex(proofTarget(decode(b as Uint8Array), sha256Hasher).hash));
}

/** Rewrites the stored hard state's fields (to forge old versions and corruption). */
function rewrite(hs: Uint8Array, edit: (m: Record<string, Value>) => void): Uint8Array {
  const m = { ...(readMap(decode(hs, { maxBytes: hs.length }), 'hardState') as Record<string, Value>) };
  edit(m);
  return encode(m);
}

const hex = (m: Made): string => toHex(m.hash);

describe('hard state v2: the uncommitted blocks', () => {
  it('a vote leaves in the same Ready as a hard state holding the voted block and its uncommitted ancestors', () => {
    const s = new Solo();
    const [b1, b2, b3] = chain(s, [1n, 2n, 3n]);
    const r = s.readys.find((x) => x.send.some((m) => m.msg.type === 'vote' && m.msg.view === 3n))!;
    expect(storedBlocks(r.persist!.hardState!)).toEqual([hex(b1!), hex(b2!), hex(b3!)]);
    expect(s.detail('durableBlocks')).toBe(3);
  });

  it('round-trips: a restarted replica holds the blocks again, serves them by block sync and votes on a block extending its high QC', () => {
    const s = new Solo();
    const [b1, b2, b3] = chain(s, [1n, 2n, 3n]);
    expect(s.commits).toEqual([]); // nothing committed: everything above lives in the hard state only
    s.restart();
    expect(s.detail('treeSize')).toBe(4); // genesis + b1..b3
    expect(s.detail('wantedBlocks')).toBe(0); // the high QC's block (b2) is at hand
    s.sent = [];
    // A peer that lost them asks: the restarted replica answers from the recovered tree, newest first.
    s.from('r2', { type: 'request-blocks', hash: b3!.hash, count: 8 });
    const answer = s.take('blocks');
    expect(answer).toHaveLength(1);
    expect(answer[0]!.msg.blocks.map((b) => toHex(proofTarget(encodeBlock(b), sha256Hasher).hash))).toEqual([hex(b3!), hex(b2!), hex(b1!)]);
    expect(answer[0]!.msg.blocks[2]!.commands).toEqual([req('c', 1)]);
    // The next leader extends the high QC (QC on b3): the replica votes without fetching anything,
    // and the three-chain b1 ← b2 ← b3 commits b1 by the normal rule (not at recovery).
    const b4 = s.craft.block(s.craft.qc(b3!), 4n);
    s.from(b4.block.proposer, s.craft.proposal(b4));
    expect(s.take('request-blocks')).toEqual([]);
    expect(s.votesFor(4n)).toBeGreaterThan(0);
    expect(s.commits.map((c) => c.height)).toEqual([1n]);
    expect(s.commits[0]!.requests).toEqual([req('c', 1)]);
    // The hard state now starts above the new root.
    expect(storedBlocks(s.hardState!)).toEqual([hex(b2!), hex(b3!), hex(b4)]);
  });

  it('without the blocks (a version 1 hard state) the replica recovers its safety state and fetches the high QC\'s block', () => {
    const s = new Solo();
    const [, b2] = chain(s, [1n, 2n, 3n]);
    const v1 = rewrite(s.hardState!, (m) => {
      m.v = 1;
      delete m.blocks;
    });
    const core = s.create({ hardState: v1, log: [], appliedHeight: 0n });
    const st = core.status();
    expect(st.detail?.lastVotedView).toBe(3n);
    expect(st.detail?.highQCView).toBe(2n);
    expect(st.detail?.lockedQCView).toBe(1n);
    expect(st.detail?.treeSize).toBe(1);
    const asks = core.ready().send.filter((o) => o.msg.type === 'request-blocks');
    expect(asks.map((o) => toHex((o.msg as { hash: Uint8Array }).hash))).toEqual([hex(b2!)]);
  });

  it('a stored chain whose parent link is broken fails recovery with a clear error', () => {
    const s = new Solo();
    const [b1, , b3] = chain(s, [1n, 2n, 3n]);
    const hs = s.hardState!;
    const blocks = readArray(readMap(decode(hs, { maxBytes: hs.length }), 'hardState').blocks, 'blocks');
    const recover = (stored: Value[]): (() => void) => () => s.create({ hardState: rewrite(hs, (m) => (m.blocks = stored)), log: [], appliedHeight: 0n });
    // b2 missing: b3's parent is nowhere.
    expect(recover([blocks[0]!, blocks[2]!])).toThrow(DecodeError);
    expect(recover([blocks[0]!, blocks[2]!])).toThrow(/hardState\.blocks\[1\]: block [0-9a-f]{16} at height 3 does not extend the recovered chain: its parent [0-9a-f]{16} is neither the committed block at height 0 nor a block stored before it/);
    // Children before parents.
    expect(recover([blocks[1]!, blocks[0]!, blocks[2]!])).toThrow(/hardState\.blocks\[0\].*does not extend the recovered chain/);
    // Stored twice.
    expect(recover([blocks[0]!, blocks[0]!])).toThrow(/hardState\.blocks\[1\].*stored twice/);
    // Hard state and log from different moments: the log's last block is b1, the hard state starts at b1 again.
    const log = [{ index: 1n, data: commitProofFor(s, b1!, b3!) }];
    expect(() => s.create({ hardState: hs, log, appliedHeight: 1n })).toThrow(/hardState\.blocks\[0\].*neither the committed block at height 1/);
    // Bytes that are not a block.
    expect(recover([new Uint8Array([1, 2, 3])])).toThrow(DecodeError);
    // Unknown versions.
    expect(() => s.create({ hardState: rewrite(hs, (m) => (m.v = 3)), log: [], appliedHeight: 0n })).toThrow(/unsupported version 3/);
    expect(() => s.create({ hardState: rewrite(hs, (m) => (m.v = 1)), log: [], appliedHeight: 0n })).toThrow(/version 1 hard state has no blocks/);
  });

  it('a block voted for on a branch the high QC left behind is kept too (a QC on it may exist elsewhere)', () => {
    const s = new Solo();
    const [b1, b2] = chain(s, [1n, 2n]);
    // View 4 after a TC of view 3: a fork on the genesis QC, which the lock (genesis) still allows.
    const f = s.craft.block(s.craft.genesis, 4n, [req('f', 1)]);
    s.from(f.block.proposer, s.craft.proposal(f, s.craft.tc(3n, s.craft.genesis)));
    expect(s.votesFor(4n)).toBeGreaterThan(0);
    expect(s.detail('highQCView')).toBe(1n); // QC on b1: the high QC's chain is b1 alone
    expect(new Set(storedBlocks(s.hardState!))).toEqual(new Set([hex(b1!), hex(b2!), hex(f)]));
    s.restart();
    expect(s.detail('treeSize')).toBe(4);
  });

  it('the aggregating leader: a QC formed before its block arrived is written with the block once it does', () => {
    // r0 leads view 4 under round-robin and aggregates the votes of view 3.
    const s = new Solo('r0', { leaderElection: roundRobin });
    const b1 = s.craft.block(s.craft.genesis, 1n, [req('c', 1)]);
    s.from(b1.block.proposer, s.craft.proposal(b1));
    const b2 = s.craft.block(s.craft.qc(b1), 2n);
    s.from(b2.block.proposer, s.craft.proposal(b2));
    const b3 = s.craft.block(s.craft.qc(b2), 3n);
    // The votes for b3 outrun its proposal.
    for (const v of ['r1', 'r2', 'r3']) s.from(v, s.craft.vote(v, b3));
    expect(s.detail('highQCView')).toBe(3n);
    expect(storedBlocks(s.hardState!)).toEqual([hex(b1), hex(b2)]); // b3 not here yet
    s.from(b3.block.proposer, s.craft.proposal(b3));
    // b3 arrived: QC(b3) commits b1 (three consecutive views), and the hard state carries the
    // chain above it up to b3, then the leader's own proposal b4 (which it voted for).
    expect(s.commits.map((c) => c.height)).toEqual([1n]);
    const b4 = s.take('proposal').map((p) => p.msg.block).find((b) => b.view === 4n)!;
    expect(storedBlocks(s.hardState!)).toEqual([hex(b2), hex(b3), toHex(proofTarget(encodeBlock(b4), sha256Hasher).hash)]);
    s.restart();
    expect(s.detail('treeSize')).toBe(4); // b1 (the root, from the log), b2, b3, b4
  });

  it(`keeps at most MAX_DURABLE_BLOCKS (${MAX_DURABLE_BLOCKS}) blocks, the lowest; a restart fetches the rest`, () => {
    const s = new Solo();
    // Every other view fails: QCs keep forming, no three consecutive views, nothing commits.
    const views = Array.from({ length: MAX_DURABLE_BLOCKS + 3 }, (_, i) => BigInt(2 * i + 1));
    const made = chain(s, views);
    expect(s.commits).toEqual([]);
    expect(storedBlocks(s.hardState!)).toEqual(made.slice(0, MAX_DURABLE_BLOCKS).map(hex));
    s.restart();
    expect(s.detail('treeSize')).toBe(MAX_DURABLE_BLOCKS + 1);
    // The high QC certifies the next-to-last block, above the cut: asked for from a peer.
    const asks = s.take('request-blocks');
    expect(asks.map((a) => toHex(a.msg.hash))).toEqual([hex(made[made.length - 2]!)]);
  });
});

/** A block as the wire carries it, in the framed form `proofTarget` reads. */
function encodeBlock(b: Made['block']): Value {
  return framedBlockValue(b);
}

/** A log record for `target`, as `commit` writes it (the proof need not verify: recovery trusts it). */
function commitProofFor(s: Solo, target: Made, top: Made): Uint8Array {
  return encodeCommitProof('test', 'three-chain', target.block, [], s.craft.qc(top));
}
