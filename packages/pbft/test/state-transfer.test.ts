/**
 * State transfer in pieces (TOCS §6.2): a checkpoint's state is announced with the hashes and sizes
 * that its 2f+1-signed digest determines, then fetched piece by piece and checked as a whole.
 */
import { describe, expect, it } from 'vitest';
import { bytesEqual, utf8 } from '@phalanx/codec';
import type { NodeId } from '@phalanx/interface';
import { ExecTable, TIMER_RETRANSMIT, pbftCodec, sha256 } from '../src/index.js';
import type { CheckpointPart, FetchMsg, PbftConfig, StateMsg } from '../src/index.js';
import { Solo, checkpoint, resign } from './craft.js';
import { Cluster } from './cluster.js';

const CHUNK = 10;
const config: PbftConfig = { checkpointInterval: 2, watermarkWindow: 4, stateChunkBytes: CHUNK };
const snapshot = utf8.encode('the application state at checkpoint two');
const clients = new ExecTable().encode();
const all = new Uint8Array([...snapshot, ...clients]);
const stateDigest = sha256(snapshot);

/** A receiver, and the pieces of checkpoint 2 as any of the other replicas would send them. */
function setup(cfg: PbftConfig = config, signers: NodeId[] = ['r0', 'r2', 'r3']) {
  const r1 = new Solo('r1', 4, cfg);
  const digest = r1.core.checkpointDigest(2n, stateDigest, snapshot, clients);
  const proof = signers.map((id) => ({ voter: id, signature: checkpoint(id, 2n, digest).signature }));
  const meta: Omit<CheckpointPart, 'offset' | 'data'> = {
    seq: 2n,
    stateDigest,
    snapshotHash: sha256(snapshot),
    snapshotBytes: snapshot.length,
    clientsHash: sha256(clients),
    clientsBytes: clients.length,
    proof,
  };
  const piece = (by: NodeId, offset: number, over: Partial<CheckpointPart> = {}): StateMsg =>
    resign(by, { type: 'state', checkpoint: { ...meta, offset, data: all.subarray(offset, offset + CHUNK), ...over }, entries: [], signature: new Uint8Array(0) });
  const asks = () =>
    r1.out.flatMap((r) => r.send).flatMap((s) => (s.msg.type === 'fetch' && s.msg.part ? [{ to: s.to, ...(s.msg as FetchMsg).part! }] : []));
  const misbehaviour = () => r1.events().flatMap((e) => (e.type === 'misbehaviour' ? [`${e.peer}: ${e.detail}`] : []));
  const restored = () => r1.out.flatMap((r) => (r.restore ? [r.restore] : []));
  return { r1, piece, asks, misbehaviour, restored };
}

describe('state transfer in pieces', () => {
  it('checks the certificate on the first piece, asks for each next piece in turn, and restores the whole state', () => {
    const { r1, piece, asks, restored, misbehaviour } = setup();
    for (let offset = 0; offset < all.length; offset += CHUNK) {
      r1.msg('r0', piece('r0', offset));
      if (offset + CHUNK < all.length) expect(asks().at(-1)).toEqual({ to: 'r0', seq: 2n, offset: offset + CHUNK });
    }
    expect(asks()).toHaveLength(Math.ceil(all.length / CHUNK) - 1);
    expect(restored()).toHaveLength(1);
    expect(restored()[0]!.height).toBe(2n);
    expect(bytesEqual(restored()[0]!.snapshot, snapshot)).toBe(true);
    expect(r1.events().filter((e) => e.type === 'state-transfer').map((e) => (e.type === 'state-transfer' ? e.phase : ''))).toEqual(['started', 'completed']);
    expect(r1.core.status().detail?.stableCheckpoint).toBe(2n);
    // Then it asks the same replica for the batches after the checkpoint.
    const last = r1.out.at(-1)!.send.at(-1)!;
    expect(last.to).toBe('r0');
    expect(last.msg).toMatchObject({ type: 'fetch', have: 2n });
    expect(misbehaviour()).toEqual([]);
  });

  it('refuses a first piece without 2f+1 signatures on its checkpoint, and asks for nothing more', () => {
    const { r1, piece, asks, misbehaviour, restored } = setup(config, ['r0', 'r2']);
    r1.msg('r0', piece('r0', 0));
    expect(misbehaviour()).toEqual(['r0: state does not match a stable checkpoint']);
    expect(asks()).toEqual([]);
    expect(restored()).toEqual([]);
  });

  it('refuses a state larger than maxStateBytes before buffering any of it', () => {
    const { r1, piece, asks, misbehaviour } = setup({ ...config, maxStateBytes: all.length - 1 });
    r1.msg('r0', piece('r0', 0));
    expect(misbehaviour()).toEqual([`r0: checkpoint state of ${all.length} bytes exceeds maxStateBytes`]);
    expect(asks()).toEqual([]);
  });

  it('blames a lone sender whose pieces are not the certified state, then completes from another signer', () => {
    const { r1, piece, asks, misbehaviour, restored } = setup();
    const garbage = new Uint8Array(all.length).fill(0x5a);
    for (let offset = 0; offset < all.length; offset += CHUNK) r1.msg('r0', piece('r0', offset, { data: garbage.subarray(offset, offset + CHUNK) }));
    expect(misbehaviour()).toEqual(['r0: state does not match its certified checkpoint']);
    expect(restored()).toEqual([]);
    const retry = r1.out.at(-1)!.send.find((s) => s.msg.type === 'fetch')!;
    expect(retry.to).not.toBe('r0');
    for (let offset = 0; offset < all.length; offset += CHUNK) r1.msg('r2', piece('r2', offset));
    expect(restored()).toHaveLength(1);
    expect(asks().filter((a) => a.to === 'r2').length).toBeGreaterThan(0);
  });

  it('refuses a piece that claims other hashes for the checkpoint in transfer', () => {
    const { r1, piece, misbehaviour } = setup();
    r1.msg('r0', piece('r0', 0));
    r1.msg('r2', piece('r2', CHUNK, { snapshotHash: new Uint8Array(32).fill(1) }));
    expect(misbehaviour()).toEqual(['r2: state piece of another checkpoint state']);
  });

  it('ignores duplicate and out-of-order pieces, and asks another signer when a tick passes without one', () => {
    const { r1, piece, asks, misbehaviour, restored } = setup();
    r1.msg('r0', piece('r0', 0));
    r1.msg('r0', piece('r0', 0)); // duplicate
    r1.msg('r0', piece('r0', 2 * CHUNK)); // ahead of what was asked
    r1.msg('r3', piece('r3', CHUNK)); // the right piece, from a replica not asked
    expect(asks()).toEqual([{ to: 'r0', seq: 2n, offset: CHUNK }]);
    r1.core.step({ type: 'timeout', timer: TIMER_RETRANSMIT }); // progress since the transfer began: ask r0 again
    r1.flush();
    expect(asks().at(-1)).toEqual({ to: 'r0', seq: 2n, offset: CHUNK });
    r1.core.step({ type: 'timeout', timer: TIMER_RETRANSMIT }); // a whole tick without a piece: someone else
    r1.flush();
    const next = asks().at(-1)!;
    expect(next.to).not.toBe('r0');
    expect(next.offset).toBe(CHUNK); // what came so far is kept
    for (let offset = CHUNK; offset < all.length; offset += CHUNK) r1.msg(next.to, piece(next.to, offset));
    expect(restored()).toHaveLength(1);
    expect(misbehaviour()).toEqual([]);
  });

  it('after bytes from several senders fail the hashes (nobody to blame), attempts have one sender each', () => {
    const { r1, piece, asks, misbehaviour, restored } = setup();
    const tick = () => {
      r1.core.step({ type: 'timeout', timer: TIMER_RETRANSMIT });
      r1.flush();
    };
    r1.msg('r0', piece('r0', 0, { data: new Uint8Array(CHUNK).fill(0x5a) })); // a bad first piece, then silence
    tick();
    tick(); // stalled: another signer continues from where r0 stopped
    const second = asks().at(-1)!;
    expect(second.offset).toBe(CHUNK);
    for (let offset = CHUNK; offset < all.length; offset += CHUNK) r1.msg(second.to, piece(second.to, offset));
    expect(restored()).toEqual([]); // the hashes fail; two senders, nobody blamed
    expect(misbehaviour()).toEqual([]);
    const third = asks().at(-1)!;
    expect(third.offset).toBe(0);
    r1.msg(third.to, piece(third.to, 0));
    tick();
    tick(); // stalled again: now the next signer starts from the beginning
    const fourth = asks().at(-1)!;
    expect(fourth.to).not.toBe(third.to);
    expect(fourth.offset).toBe(0);
    for (let offset = 0; offset < all.length; offset += CHUNK) r1.msg(fourth.to, piece(fourth.to, offset));
    expect(restored()).toHaveLength(1);
  });

  it('the certificate covers the sizes: a first piece claiming others is refused and blamed, and honest signers complete', () => {
    const { r1, piece, asks, misbehaviour, restored } = setup();
    r1.msg('r0', piece('r0', 0, { snapshotBytes: snapshot.length + 1 }));
    expect(misbehaviour()).toEqual(['r0: state does not match a stable checkpoint']);
    expect(asks()).toEqual([]);
    for (let offset = 0; offset < all.length; offset += CHUNK) r1.msg('r2', piece('r2', offset));
    expect(restored()).toHaveLength(1);
    expect(misbehaviour()).toEqual(['r0: state does not match a stable checkpoint']);
  });

  it('a source trickling tiny pieces counts as stalled, and pieces are copied out of their frames', () => {
    const { r1, piece, asks, restored } = setup();
    const tiny = (offset: number) => piece('r0', offset, { data: all.subarray(offset, offset + 1) });
    for (let offset = 0; offset < 3; offset++) r1.msg('r0', tiny(offset));
    r1.core.step({ type: 'timeout', timer: TIMER_RETRANSMIT }); // 3 bytes in a tick: less than a piece
    r1.flush();
    const next = asks().at(-1)!;
    expect(next).toMatchObject({ offset: 3 });
    expect(next.to).not.toBe('r0');
    const frame = all.slice();
    for (let offset = 3; offset < all.length; offset += CHUNK) {
      r1.msg(next.to, piece(next.to, offset, { data: frame.subarray(offset, offset + CHUNK) }));
      frame.fill(0, offset, offset + CHUNK); // the frame's memory changes after delivery: the state must not
    }
    expect(restored()).toHaveLength(1);
    expect(bytesEqual(restored()[0]!.snapshot, snapshot)).toBe(true);
  });

  it('a newer checkpoint does not replace a transfer that is making progress, only a stalled one', () => {
    const { r1, piece, asks, restored } = setup();
    // Checkpoint 4 of the same state, certified by 2f+1.
    const digest4 = r1.core.checkpointDigest(4n, stateDigest, snapshot, clients);
    const proof4 = ['r0', 'r2', 'r3'].map((id) => ({ voter: id, signature: checkpoint(id, 4n, digest4).signature }));
    const newer = (by: NodeId) => piece(by, 0, { seq: 4n, proof: proof4 });
    r1.msg('r0', piece('r0', 0));
    r1.msg('r3', newer('r3')); // a transfer in progress keeps going
    expect(asks().at(-1)).toEqual({ to: 'r0', seq: 2n, offset: CHUNK });
    r1.msg('r0', piece('r0', CHUNK));
    r1.core.step({ type: 'timeout', timer: TIMER_RETRANSMIT }); // progress: not stalled
    r1.flush();
    r1.msg('r3', newer('r3'));
    expect(asks().at(-1)!.seq).toBe(2n);
    r1.core.step({ type: 'timeout', timer: TIMER_RETRANSMIT }); // nothing for a tick: stalled
    r1.flush();
    const rotated = asks().at(-1)!.to;
    expect(rotated).not.toBe('r0');
    r1.msg('r0', newer('r0')); // not from the replica asked: the one that stalled cannot take over
    expect(asks().at(-1)!.seq).toBe(2n);
    r1.msg(rotated, newer(rotated)); // the replica asked answers with its newer checkpoint: it takes over
    expect(asks().at(-1)).toEqual({ to: rotated, seq: 4n, offset: CHUNK });
    for (let offset = CHUNK; offset < all.length; offset += CHUNK) r1.msg(rotated, piece(rotated, offset, { seq: 4n, proof: proof4 }));
    expect(restored().map((r) => r.height)).toEqual([4n]);
  });

  it('a lagging replica catches up over the codec from a state many pieces long', () => {
    const c = new Cluster({ n: 4, config: { checkpointInterval: 4, maxBatchSize: 1, stateChunkBytes: 16 } });
    let pieces = 0;
    let isolated = true;
    c.filter = (p) => {
      if (isolated) return p.to !== 'r3' && p.from !== 'r3';
      const m = pbftCodec.decode(p.bytes);
      if (p.to === 'r3' && m.type === 'state' && m.checkpoint) pieces++;
      return true;
    };
    for (let i = 0; i < 30; i++) c.request('r0');
    const others = ['r0', 'r1', 'r2'];
    expect(c.runUntil(() => others.every((id) => c.node(id).core.status().committedHeight >= 30n))).toBe(true);
    isolated = false;
    for (let i = 0; i < 10; i++) c.request('r0');
    expect(c.runUntil(() => c.node('r3').core.status().committedHeight >= 40n, 400_000)).toBe(true);
    expect(c.node('r3').events.some((e) => e.type === 'state-transfer' && e.phase === 'completed')).toBe(true);
    expect(pieces).toBeGreaterThan(3);
    c.checkAgreement();
  });
});
