/**
 * The runtime's checkpoint envelope over the KV store, end to end: `ReplicatedState` writes its
 * heads and client table into the room `KvStore` leaves around its snapshot (no copy of the state),
 * and the bytes must be exactly those of the copying path, for a client table of any size, with
 * earlier envelopes never rewritten by later snapshots.
 */
import { describe, expect, it } from 'vitest';
import type { ClientRequest, StateMachine } from '@phalanx/interface';
import { KvStore, encodeCommand } from '@phalanx/kv-store';
import { ReplicatedState } from '@phalanx/runtime';

let seq = 0n;
const put = (key: string, value: Uint8Array): ClientRequest => ({ client: 'c', seq: seq++, payload: encodeCommand({ op: 'put', key: Buffer.from(key), value }) });
const get = (key: string): ClientRequest => ({ client: 'c', seq: seq++, payload: encodeCommand({ op: 'get', key: Buffer.from(key) }) });

/** The same store, seen without `leavesSnapshotRoom`: the runtime copies its bytes. */
function copied(kv: KvStore): StateMachine {
  return { apply: (c, ctx) => kv.apply(c, ctx), snapshot: () => kv.snapshot(), restore: (b) => kv.restore(b), snapshotSteps: () => kv.snapshotSteps() };
}

describe('checkpoint envelope over KvStore', () => {
  it('gives the copying path\'s bytes without copying the state, for a client table over a megabyte, and never rewrites an earlier one', () => {
    const roomy = new ReplicatedState(new KvStore());
    const plain = new ReplicatedState(copied(new KvStore()));
    const both = (requests: ClientRequest[], height: bigint) => {
      for (const s of [roomy, plain]) s.apply({ height, requests });
    };
    both(Array.from({ length: 2_000 }, (_, i) => put(`key-${i}`, Buffer.alloc(100, i & 0xff))), 1n);
    const first = roomy.snapshot();
    const copiedFirst = plain.snapshot();
    expect(Buffer.from(first).equals(Buffer.from(copiedFirst))).toBe(true);
    // Written around the store's bytes, not copied: the envelope starts inside the store's buffer
    // (after the unused part of the room); the copying path's starts at its own buffer's start.
    expect(first.byteOffset).toBeGreaterThan(0);
    expect(copiedFirst.byteOffset).toBe(0);
    const kept = Buffer.from(first);

    // 300 gets of an 8,000-byte value: the client table caches their results, ~2.4 MB.
    both([put('big', Buffer.alloc(8_000, 7))], 2n);
    both(Array.from({ length: 300 }, () => get('big')), 3n);
    both(Array.from({ length: 50 }, (_, i) => put(`key-${i}`, Buffer.alloc(100, 0xee))), 4n);
    const second = roomy.snapshot();
    expect(second.length).toBeGreaterThan(2_000_000);
    expect(Buffer.from(second).equals(Buffer.from(plain.snapshot()))).toBe(true);
    expect(second.buffer).not.toBe(first.buffer);
    both([put('key-1', Buffer.alloc(3, 1))], 5n);
    expect(Buffer.from(roomy.snapshot()).equals(Buffer.from(plain.snapshot()))).toBe(true);
    // The first envelope, still held (a core serves it to peers), is as it was.
    expect(Buffer.from(first).equals(kept)).toBe(true);

    // And it restores to the same state.
    const back = new ReplicatedState(new KvStore());
    back.restore(second);
    expect(ReplicatedState.digest(back.snapshot())).toEqual(ReplicatedState.digest(second));
  });
});
