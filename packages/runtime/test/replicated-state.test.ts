import { describe, it, expect } from 'vitest';
import { DecodeError } from '@phalanx/interface';
import type { ClientRequest, StateMachine } from '@phalanx/interface';
import { decode, encode, headLength } from '@phalanx/codec';
import { ReplicaError, ReplicatedState } from '../src/index.js';
import { LogMachine } from './fixtures.js';

const req = (client: string, seq: bigint): ClientRequest => ({ client, seq, payload: Uint8Array.of(Number(seq % 256n)) });

describe('ReplicatedState', () => {
  it('applies each (client, seq) once, out of order too, and answers duplicates from the cache', () => {
    const s = new ReplicatedState(new LogMachine());
    const a = s.apply({ height: 1n, requests: [req('c', 0n), req('c', 2n), req('c', 0n)] });
    expect(a.map((x) => x.duplicate)).toEqual([false, false, true]);
    expect(a[2]!.result).toEqual(a[0]!.result);
    const b = s.apply({ height: 2n, requests: [req('c', 1n), req('c', 2n)] });
    expect(b.map((x) => x.duplicate)).toEqual([false, true]);
    expect(b[1]!.height).toBe(1n);
    expect(s.executed('c', 3n)).toBe(false);
    expect((s.app as LogMachine).entries.length).toBe(3);
  });

  it('reports the highest executed seq per client, out-of-order ones included', () => {
    const s = new ReplicatedState(new LogMachine());
    expect(s.highestExecuted('c')).toBeUndefined();
    s.apply({ height: 1n, requests: [req('c', 0n)] });
    expect(s.highestExecuted('c')).toBe(0n);
    s.apply({ height: 2n, requests: [req('c', 7n), req('c', 3n), req('d', 5n)] });
    expect(s.highestExecuted('c')).toBe(7n); // 1, 2 still missing: the out-of-order set counts
    s.apply({ height: 3n, requests: [req('c', 1n), req('c', 2n)] });
    expect(s.highestExecuted('c')).toBe(7n);
    expect(s.highestExecuted('d')).toBe(5n);
    const t = new ReplicatedState(new LogMachine());
    t.restore(s.snapshot());
    expect(t.highestExecuted('c')).toBe(7n);
  });

  it('snapshots and restores the client table with the application (equal digests)', () => {
    const s = new ReplicatedState(new LogMachine());
    s.apply({ height: 1n, requests: [req('a', 0n), req('b', 5n)] });
    const snap = s.snapshot();
    const t = new ReplicatedState(new LogMachine());
    t.restore(snap);
    expect(ReplicatedState.digest(t.snapshot())).toEqual(ReplicatedState.digest(snap));
    expect(t.apply({ height: 2n, requests: [req('b', 5n)] })[0]!.duplicate).toBe(true);
  });

  it('writes the snapshot as the generic encoder would, for every size of application state', () => {
    for (const size of [0, 1, 23, 24, 255, 256, 65_535, 65_536, 300_000]) {
      const app = new Uint8Array(size).map((_, i) => (i * 7) & 0xff);
      const s = new ReplicatedState({ apply: (c: readonly ClientRequest[]) => c.map(() => new Uint8Array(1)), snapshot: () => app, restore: () => undefined });
      s.apply({ height: 1n, requests: [req('a', 0n), req('b', 5n)] });
      const snap = s.snapshot();
      // The oracle: the strict decoder's value (it refuses any non-canonical form) encoded generically.
      const value = decode(snap, { maxBytes: snap.length }) as [number, Uint8Array, unknown];
      expect(value[0]).toBe(1);
      expect(value[1]).toEqual(app);
      expect(Buffer.from(encode(value as never)).equals(snap)).toBe(true);
    }
  });

  /** An application whose snapshot is `app`'s bytes, returned in a buffer with the room it is asked for (or `extra` more). */
  function roomyApp(app: Uint8Array, extra = 0) {
    const asked: ({ before: number; after: number } | undefined)[] = [];
    const buffers: ArrayBufferLike[] = [];
    const machine: StateMachine = {
      apply: (c: readonly ClientRequest[]) => c.map(() => new Uint8Array(1)),
      snapshot: () => app,
      restore: () => undefined,
      leavesSnapshotRoom: true,
      // eslint-disable-next-line require-yield
      *snapshotSteps(room?: { before: number; after: number }) {
        asked.push(room);
        const before = (room?.before ?? 0) + extra;
        const buf = new Uint8Array(before + app.length + (room?.after ?? 0) + extra).fill(0xee);
        buf.set(app, before);
        buffers.push(buf.buffer);
        return buf.subarray(before, before + app.length);
      },
    };
    return { machine, asked, buffers };
  }

  it('writes its envelope into the room an application leaves around its snapshot: same bytes, no copy of the state', () => {
    for (const size of [0, 23, 24, 256, 65_536, 300_000]) {
      for (const extra of [0, 5]) {
        const app = new Uint8Array(size).map((_, i) => (i * 7) & 0xff);
        const copying = new ReplicatedState({ apply: (c: readonly ClientRequest[]) => c.map(() => new Uint8Array(1)), snapshot: () => app, restore: () => undefined });
        const { machine, asked, buffers } = roomyApp(app, extra);
        const roomy = new ReplicatedState(machine);
        for (const s of [copying, roomy]) s.apply({ height: 1n, requests: [req('a', 0n), req('b', 5n)] });
        const want = copying.snapshot();
        const got = roomy.snapshot();
        expect(Buffer.from(got).equals(Buffer.from(want))).toBe(true);
        // The envelope is a view into the application's own buffer: the state was not copied.
        expect(got.buffer).toBe(buffers[0]);
        // Room for the longest head before, the client table after.
        expect(asked[0]!.before).toBeGreaterThanOrEqual(2 + 9);
        expect(asked[0]!.after).toBe(want.length - (2 + headLength(size)) - size);
      }
    }
  });

  it('copies a snapshot whose room is missing, and never writes around one of an application that does not leave room', () => {
    const app = new Uint8Array(1000).map((_, i) => i & 0xff);
    const apply = (c: readonly ClientRequest[]) => c.map(() => new Uint8Array(1));
    const expected = () => {
      const reference = new ReplicatedState({ apply, snapshot: () => app, restore: () => undefined });
      reference.apply({ height: 1n, requests: [req('a', 0n)] });
      return Buffer.from(reference.snapshot());
    };
    // It says it leaves room, but leaves one byte too few after: copied, its buffer untouched.
    const short = roomyApp(app);
    const shortMachine: StateMachine = {
      ...short.machine,
      snapshotSteps: (room?: { before: number; after: number }) => short.machine.snapshotSteps!(room && { before: room.before, after: room.after - 1 }),
    };
    // No `leavesSnapshotRoom`: its bytes are a view into memory it keeps using, with bytes around them.
    const arena = new Uint8Array(app.length + 64).fill(0xaa);
    arena.set(app, 32);
    const view = arena.subarray(32, 32 + app.length);
    const asked: unknown[] = [];
    const viewMachine: StateMachine = {
      apply,
      snapshot: () => view,
      restore: () => undefined,
      // eslint-disable-next-line require-yield
      *snapshotSteps(room?: { before: number; after: number }) {
        asked.push(room);
        return view;
      },
    };
    for (const [m, own] of [[shortMachine, () => short.buffers[0]], [viewMachine, () => arena.buffer]] as const) {
      const s = new ReplicatedState(m);
      s.apply({ height: 1n, requests: [req('a', 0n)] });
      const got = s.snapshot();
      expect(Buffer.from(got).equals(expected())).toBe(true);
      expect(got.buffer).not.toBe(own());
    }
    expect(asked).toEqual([undefined]);
    const untouched = (bytes: Uint8Array, from: number, to: number, fill: number) => bytes.every((b, i) => (i >= from && i < to) || b === fill);
    expect(untouched(arena, 32, 32 + app.length, 0xaa)).toBe(true);
    expect(untouched(new Uint8Array(short.buffers[0]!), 11, 11 + app.length, 0xee)).toBe(true);
  });

  it('refuses an application that returns too few or too many results with ReplicaError (code REPLICA)', () => {
    for (const extra of [-1, 1]) {
      const app = { apply: (c: readonly ClientRequest[]) => Array.from({ length: c.length + extra }, () => new Uint8Array(0)), snapshot: () => new Uint8Array(0), restore: () => undefined };
      const s = new ReplicatedState(app);
      expect(() => s.apply({ height: 1n, requests: [req('a', 0n), req('a', 1n)] })).toThrow(
        expect.objectContaining({ constructor: ReplicaError, code: 'REPLICA', message: `StateMachine.apply returned ${2 + extra} results for 2 commands` }),
      );
      expect(s.executed('a', 0n)).toBe(false); // nothing recorded for the batch
    }
  });

  it('refuses a snapshot of another version with DecodeError (code DECODE)', () => {
    const s = new ReplicatedState(new LogMachine());
    const other = encode([2, new Uint8Array(0), []]);
    expect(() => s.restore(other)).toThrow(expect.objectContaining({ constructor: DecodeError, code: 'DECODE', message: 'snapshot: unknown runtime snapshot version' }));
  });

  it('bounds the out-of-order set of a client that never sends seq 0', () => {
    const nullApp = { apply: (c: readonly ClientRequest[]) => c.map(() => new Uint8Array(8)), snapshot: () => new Uint8Array(0), restore: () => undefined };
    const s = new ReplicatedState(nullApp, 8, 16);
    for (let i = 1n; i <= 100n; i++) s.apply({ height: i, requests: [req('c', i)] });
    const at100 = s.snapshot().length;
    for (let i = 101n; i <= 1000n; i++) s.apply({ height: i, requests: [req('c', i)] });
    expect(s.snapshot().length).toBeLessThanOrEqual(at100 + 64); // the client table does not grow (ints get wider)
    expect(s.executed('c', 0n)).toBe(true); // expired: never executed, never will be
    expect(s.executed('c', 1001n)).toBe(false);
    expect(s.result('c', 1000n)).toBeDefined();
    expect(s.result('c', 100n)).toBeUndefined();
  });
});
