import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ArgumentError, ConfigError, DecodeError } from '@phalanx/interface';
import type { ClientRequest } from '@phalanx/interface';
import { bytesEqual, encode, toHex, utf8 } from '@phalanx/codec';
import { KvStore, decodeCommand, decodeResult, encodeCommand, isStoreFull } from '../src/index.js';
import type { KvCommand } from '../src/index.js';
import { runSteps } from '../src/key-order.js';

const k = (s: string) => utf8.encode(s);
const req = (client: string, seq: bigint, c: KvCommand): ClientRequest => ({ client, seq, payload: encodeCommand(c) });
const ctx = { height: 1n };
const run = (kv: KvStore, ...rs: ClientRequest[]) => kv.apply(rs, ctx).map(decodeResult);

describe('KvStore', () => {
  it('puts, gets and deletes', () => {
    const kv = new KvStore();
    const [put, get, del, gone] = run(
      kv,
      req('c', 1n, { op: 'put', key: k('a'), value: k('1') }),
      req('c', 2n, { op: 'get', key: k('a') }),
      req('c', 3n, { op: 'del', key: k('a') }),
      req('c', 4n, { op: 'get', key: k('a') }),
    );
    expect(put).toEqual({ ok: true });
    expect(get).toEqual({ ok: true, value: k('1') });
    expect(del).toEqual({ ok: true });
    expect(gone).toEqual({ ok: true });
  });

  it('keeps every value byte for byte (all 256 byte values, empty, large), through get, read, snapshot and restore', () => {
    const kv = new KvStore();
    const all = Uint8Array.from({ length: 256 }, (_, i) => 255 - i);
    const values = [all, new Uint8Array(0), Uint8Array.of(0x80), Uint8Array.of(0xc3, 0x28), Uint8Array.of(0xed, 0xa0, 0x80), Uint8Array.from({ length: 257 }, (_, i) => i % 256), new Uint8Array(70_000).fill(0xff)];
    run(kv, ...values.map((value, i) => req('c', BigInt(i + 1), { op: 'put', key: Uint8Array.of(i), value })));
    const gets = run(kv, ...values.map((_, i) => req('c', BigInt(100 + i), { op: 'get', key: Uint8Array.of(i) })));
    const restored = new KvStore();
    restored.restore(kv.snapshot());
    const same = (a: Uint8Array | undefined, b: Uint8Array) => a !== undefined && Buffer.compare(a, b) === 0;
    values.forEach((value, i) => {
      const got = gets[i]!;
      expect(got.ok && same(got.value ?? new Uint8Array(0), value)).toBe(true);
      const read = kv.read(Uint8Array.of(i))!;
      expect(same(read, value)).toBe(true);
      expect(Object.getPrototypeOf(read)).toBe(Uint8Array.prototype); // its own bytes, not a Buffer view
      read.fill(1); // a caller's copy: the stored value stays
      expect(same(kv.read(Uint8Array.of(i)), value)).toBe(true);
      expect(same(restored.read(Uint8Array.of(i)), value)).toBe(true);
    });
    expect(Buffer.compare(restored.snapshot(), kv.snapshot())).toBe(0);
  });

  it('holds values of up to 256 bytes as strings and longer ones off the JavaScript heap', () => {
    // White-box: the point is where the bytes live (strings count against V8's heap limit).
    const kv = new KvStore();
    run(kv, req('c', 1n, { op: 'put', key: k('small'), value: new Uint8Array(256) }), req('c', 2n, { op: 'put', key: k('large'), value: new Uint8Array(257) }));
    const data = (kv as unknown as { data: Map<string, unknown> }).data;
    expect(typeof data.get(toHex(k('small')))).toBe('string');
    expect(data.get(toHex(k('large')))).toBeInstanceOf(Uint8Array);
  });

  it('executes a (client, seq) once: a duplicate returns the first result without a second effect', () => {
    const kv = new KvStore();
    run(kv, req('c', 1n, { op: 'put', key: k('a'), value: k('1') }));
    run(kv, req('d', 1n, { op: 'put', key: k('a'), value: k('2') }));
    // c's first put is committed again (e.g. it reached two primaries): it must not overwrite d's value.
    const [again] = run(kv, req('c', 1n, { op: 'put', key: k('a'), value: k('1') }));
    expect(again).toEqual({ ok: true });
    expect(kv.read(k('a'))).toEqual(k('2'));
  });

  it('refuses a new key past maxKeys with a clear error, the same on every replica; overwrites and deletes still work', () => {
    const kv = new KvStore({ maxKeys: 2 });
    const put = (seq: bigint, key: string, value = 'v') => run(kv, req('c', seq, { op: 'put', key: k(key), value: k(value) }))[0];
    expect([put(1n, 'a'), put(2n, 'b')]).toEqual([{ ok: true }, { ok: true }]);
    const refused = put(3n, 'c')!;
    expect(refused).toEqual({ ok: false, error: 'store full: it holds 2 keys, the most it may (delete some first)' });
    expect([isStoreFull(refused), isStoreFull({ ok: false, error: 'malformed command' }), isStoreFull({ ok: true })]).toEqual([true, false, false]);
    expect([kv.size, kv.read(k('c'))]).toEqual([2, undefined]);
    expect(put(4n, 'a', 'new')).toEqual({ ok: true });
    expect(kv.read(k('a'))).toEqual(k('new'));
    run(kv, req('c', 5n, { op: 'del', key: k('b') }));
    expect(put(6n, 'c')).toEqual({ ok: true });
    expect([kv.size, kv.read(k('a')), kv.read(k('b')), kv.read(k('c'))]).toEqual([2, k('new'), undefined, k('v')]);
    // The refused put left nothing behind: its snapshot restores to the same bytes.
    const twin = new KvStore({ maxKeys: 2 });
    twin.restore(kv.snapshot());
    expect(bytesEqual(twin.snapshot(), kv.snapshot())).toBe(true);
    // A snapshot holding more keys than the cap (a cap lowered since) is restored whole.
    const small = new KvStore({ maxKeys: 1 });
    small.restore(kv.snapshot());
    expect(small.size).toBe(2);
    for (const maxKeys of [0, 1.5, 16_000_001, Number.NaN]) expect(() => new KvStore({ maxKeys })).toThrow(ConfigError);
  });

  it('accepts pipelined sequence numbers out of order within the window, refuses older ones', () => {
    const kv = new KvStore({ sessionWindow: 4 });
    run(kv, req('c', 10n, { op: 'put', key: k('x'), value: k('10') }));
    const [late] = run(kv, req('c', 8n, { op: 'put', key: k('y'), value: k('8') }));
    expect(late).toEqual({ ok: true });
    const [tooOld] = run(kv, req('c', 6n, { op: 'put', key: k('z'), value: k('6') }));
    expect(tooOld).toMatchObject({ ok: false, error: expect.stringMatching(/older than/) });
    expect(kv.read(k('z'))).toBeUndefined();
  });

  it('forgets results that fell out of the window the same way after a restore (order of commit does not matter)', () => {
    // 10 commits before 8, so the committing replica stores them in that order; a replica restored
    // from its snapshot holds them sorted. When 13 moves the floor to 9, both must drop 8.
    const a = new KvStore({ sessionWindow: 4 });
    run(a, req('c', 10n, { op: 'put', key: k('x'), value: k('10') }), req('c', 8n, { op: 'put', key: k('y'), value: k('8') }));
    const b = new KvStore({ sessionWindow: 4 });
    b.restore(a.snapshot());
    for (const kv of [a, b]) run(kv, req('c', 13n, { op: 'get', key: k('x') }));
    expect(toHex(b.snapshot())).toBe(toHex(a.snapshot()));
    // A retry of 8 is refused by both, not answered from a cache only one of them kept.
    for (const kv of [a, b]) expect(run(kv, req('c', 8n, { op: 'put', key: k('y'), value: k('8') }))[0]).toMatchObject({ ok: false, error: expect.stringMatching(/older than/) });
  });

  it('drops results below the window when restoring a snapshot that holds some (older versions, a larger window)', () => {
    const commands = [10n, 8n, 13n].map((seq) => req('c', seq, { op: 'put', key: k(`${seq}`), value: k('v') }));
    // Under a window of 8, result 8 is still kept at top 13; before results were pruned whatever
    // their order, a window-4 replica that committed 10 before 8 kept it too.
    const wide = new KvStore({ sessionWindow: 8 });
    const narrow = new KvStore({ sessionWindow: 4 });
    for (const kv of [wide, narrow]) kv.apply(commands, ctx);
    const restored = new KvStore({ sessionWindow: 4 });
    restored.restore(wide.snapshot());
    expect(toHex(restored.snapshot())).toBe(toHex(narrow.snapshot()));
    for (const kv of [restored, narrow]) expect(run(kv, commands[1]!)[0]).toMatchObject({ ok: false, error: expect.stringMatching(/older than/) });
  });

  it('keeps the same sessions on a restored replica as on one that committed, for any commit order', () => {
    const seqs = fc.array(fc.record({ client: fc.constantFrom('a', 'b'), seq: fc.bigInt({ min: 1n, max: 16n }) }), { maxLength: 40 });
    fc.assert(
      fc.property(seqs, fc.nat(40), fc.integer({ min: 1, max: 6 }), (cmds, cut, sessionWindow) => {
        const rs = cmds.map((c) => req(c.client, c.seq, { op: 'put', key: k(c.client), value: k(`${c.seq}`) }));
        const a = new KvStore({ sessionWindow });
        a.apply(rs.slice(0, cut), ctx);
        const b = new KvStore({ sessionWindow });
        b.restore(a.snapshot());
        const rest = rs.slice(cut);
        expect(b.apply(rest, ctx).map(toHex)).toEqual(a.apply(rest, ctx).map(toHex));
        expect(toHex(b.snapshot())).toBe(toHex(a.snapshot()));
      }),
      { numRuns: 1000 },
    );
  });

  it('fails malformed commands deterministically instead of throwing', () => {
    const kv = new KvStore();
    const [r] = run(kv, { client: 'c', seq: 1n, payload: new Uint8Array([0xff]) });
    expect(r).toMatchObject({ ok: false });
    expect(() => decodeCommand(encode({ op: 'cas', key: k('a') }))).toThrow(/unknown operation/);
    expect(() => decodeCommand(encode({ op: 'get', key: k('a'), value: k('b') }))).toThrow(DecodeError);
    expect(() => decodeCommand(encode({ op: 'put', key: new Uint8Array(2000), value: k('b') }))).toThrow(/limit/);
  });

  it('snapshots canonically: replicas that applied the same commands produce identical bytes', () => {
    const cmd = fc.record({ client: fc.constantFrom('a', 'b', 'c'), seq: fc.bigInt({ min: 1n, max: 20n }), key: fc.constantFrom('k1', 'k2', 'k3'), op: fc.constantFrom('put', 'del', 'get') });
    fc.assert(
      fc.property(fc.array(cmd, { maxLength: 40 }), (cmds) => {
        const rs = cmds.map((c) => req(c.client, c.seq, c.op === 'put' ? { op: 'put', key: k(c.key), value: k(`${c.seq}`) } : { op: c.op as 'get' | 'del', key: k(c.key) }));
        const a = new KvStore();
        const b = new KvStore();
        a.apply(rs, ctx);
        for (const r of rs) b.apply([r], ctx); // different batching, same order
        expect(toHex(a.snapshot())).toBe(toHex(b.snapshot()));
        const c = new KvStore();
        c.restore(a.snapshot());
        expect(toHex(c.snapshot())).toBe(toHex(a.snapshot()));
        // The restored replica behaves identically on what comes next, retries included.
        const next = [...rs.slice(0, 3), req('a', 99n, { op: 'get', key: k('k1') })];
        expect(c.apply(next, ctx).map(toHex)).toEqual(a.apply(next, ctx).map(toHex));
      }),
      { numRuns: 100 },
    );
  });

  it('snapshots equal states to equal bytes whatever order they were reached in', () => {
    // Puts of distinct keys commute and all answer ok, so any order gives the same state; the
    // snapshot must not leak insertion order (the test above replays one order only).
    const puts = fc.uniqueArray(fc.record({ client: fc.constantFrom('a', 'b', 'zz', 'm'), seq: fc.bigInt({ min: 1n, max: 30n }), key: fc.string({ minLength: 1, maxLength: 4 }) }), {
      selector: (p) => p.key,
      minLength: 2,
      maxLength: 20,
    });
    fc.assert(
      fc.property(puts.filter((ps) => new Set(ps.map((p) => `${p.client}/${p.seq}`)).size === ps.length), fc.nat(), (ps, seed) => {
        const rs = ps.map((p) => req(p.client, p.seq, { op: 'put', key: k(p.key), value: k(p.key) }));
        const shuffled = [...rs].sort((x, y) => ((toHex(x.payload) + seed) < (toHex(y.payload) + seed) ? -1 : 1)).reverse();
        const a = new KvStore();
        const b = new KvStore();
        a.apply(rs, ctx);
        b.apply(shuffled, ctx);
        expect(toHex(b.snapshot())).toBe(toHex(a.snapshot()));
      }),
      { numRuns: 100 },
    );
  });

  describe('snapshot in steps', () => {
    /**
     * A store of `n` keys, with some deleted, re-inserted, replaced and added after an earlier
     * snapshot: ~11k touched keys, more than two steps' worth, so the next snapshot really pauses.
     */
    const store = (n: number) => {
      const kv = new KvStore();
      const put = (i: number, seq: bigint) => kv.apply([req('c', seq, { op: 'put', key: k(`key-${(i * 7919) % n}`), value: k(`v${i}`) })], ctx);
      for (let i = 0; i < n; i++) put(i, BigInt(i + 1));
      kv.snapshot();
      for (let i = 0; i < 3000; i++) kv.apply([req('c', BigInt(n + 1 + i), { op: 'del', key: k(`key-${i * 3}`) })], ctx);
      for (let i = 0; i < 2000; i++) put(i * 3, BigInt(n + 3001 + i));
      for (let i = 0; i < 6000; i++) kv.apply([req('c', BigInt(n + 5001 + i), { op: 'put', key: k(`new-${i}`), value: k('x') })], ctx);
      return kv;
    };
    const drive = (it: Iterator<void, Uint8Array>, between?: (step: number) => void) => {
      for (let step = 0; ; step++) {
        const r = it.next();
        if (r.done) return { bytes: r.value, steps: step };
        between?.(step);
      }
    };

    it('gives the bytes of snapshot(), a few thousand keys a step', () => {
      const { bytes } = drive(store(20_000).snapshotSteps());
      expect(toHex(bytes)).toBe(toHex(store(20_000).snapshot()));
      const fresh = new KvStore();
      for (let i = 0; i < 20_000; i++) fresh.apply([req('c', BigInt(i + 1), { op: 'put', key: k(`key-${i}`), value: k('v') })], ctx);
      expect(drive(fresh.snapshotSteps()).steps).toBeGreaterThanOrEqual(10); // 20k new keys: sorted in runs, merged, located, encoded
    });

    it('gives the same bytes when snapshot() is called between its steps, and both leave the cache whole', () => {
      const want = toHex(store(20_000).snapshot());
      for (const at of [0, 2, 5]) {
        const kv = store(20_000);
        const { bytes, steps } = drive(kv.snapshotSteps(), (step) => {
          if (step === at) expect(toHex(kv.snapshot())).toBe(want);
        });
        expect(steps).toBeGreaterThan(at);
        expect(toHex(bytes)).toBe(want);
        kv.apply([req('c', 99_999n, { op: 'put', key: k('key-3'), value: k('y') })], ctx);
        const fresh = store(20_000);
        fresh.apply([req('c', 99_999n, { op: 'put', key: k('key-3'), value: k('y') })], ctx);
        expect(toHex(kv.snapshot())).toBe(toHex(fresh.snapshot()));
      }
    });

    it('leaves later snapshots whole when a run of steps is abandoned, wherever it stops', () => {
      const kv = store(20_000);
      const { steps } = drive(store(20_000).snapshotSteps());
      expect(steps).toBeGreaterThan(3);
      for (let stop = 1; stop < steps; stop++) {
        const it = kv.snapshotSteps();
        for (let i = 0; i < stop; i++) expect(it.next().done).toBe(false);
      }
      kv.apply([req('c', 99_999n, { op: 'put', key: k('key-3'), value: k('y') })], ctx);
      const fresh = store(20_000);
      fresh.apply([req('c', 99_999n, { op: 'put', key: k('key-3'), value: k('y') })], ctx);
      expect(toHex(kv.snapshot())).toBe(toHex(fresh.snapshot()));
    });
  });

  it('gives a copy of its own from snapshot(): changing it does not change the next snapshot', () => {
    const kv = new KvStore();
    const fresh = new KvStore();
    for (const s of [kv, fresh]) {
      for (let n = 1; n <= 50; n++) s.apply([req('c', BigInt(n), { op: 'put', key: k(`key-${n}`), value: k(`v${n}`) })], ctx);
    }
    kv.snapshot().fill(0);
    kv.apply([req('c', 51n, { op: 'put', key: k('key-51'), value: k('v51') })], ctx);
    fresh.apply([req('c', 51n, { op: 'put', key: k('key-51'), value: k('v51') })], ctx);
    expect(toHex(kv.snapshot())).toBe(toHex(fresh.snapshot()));
  });

  it('leaves the room a caller asks for around its stepped snapshot, of any size, which the caller may write, and refuses a room that is no size', () => {
    const kv = new KvStore();
    const fresh = new KvStore();
    expect(kv.leavesSnapshotRoom).toBe(true);
    for (const s of [kv, fresh]) {
      for (let n = 1; n <= 50; n++) s.apply([req('c', BigInt(n), { op: 'put', key: k(`key-${n}`), value: k(`v${n}`) })], ctx);
    }
    const room = { before: 11, after: 100 };
    const got = runSteps(kv.snapshotSteps(room));
    expect(toHex(got)).toBe(toHex(fresh.snapshot()));
    expect(got.byteOffset).toBeGreaterThanOrEqual(room.before);
    expect(got.buffer.byteLength - got.byteOffset - got.length).toBeGreaterThanOrEqual(room.after);
    // The caller's frame, written around the bytes: the store's next snapshot is unaffected.
    new Uint8Array(got.buffer, got.byteOffset - room.before, room.before).fill(0xff);
    new Uint8Array(got.buffer, got.byteOffset + got.length, room.after).fill(0xff);
    for (const s of [kv, fresh]) s.apply([req('c', 51n, { op: 'put', key: k('key-51'), value: k('v51') })], ctx);
    expect(toHex(runSteps(kv.snapshotSteps(room)))).toBe(toHex(fresh.snapshot()));
    // Any size: the runtime's client table after the entries can be megabytes.
    const large = runSteps(kv.snapshotSteps({ before: 11, after: 4 << 20 }));
    expect(large.buffer.byteLength - large.byteOffset - large.length).toBeGreaterThanOrEqual(4 << 20);
    for (const bad of [{ before: -1, after: 0 }, { before: 0, after: 1.5 }, { before: 0, after: Number.NaN }]) {
      expect(() => runSteps(kv.snapshotSteps(bad))).toThrow(ArgumentError);
    }
    expect(toHex(kv.snapshot())).toBe(toHex(fresh.snapshot()));
  });

  it('refuses a non-canonical snapshot that would restore to a state with a different digest', () => {
    const kv = new KvStore();
    run(kv, req('c', 1n, { op: 'put', key: k('a'), value: k('1') }), req('c', 2n, { op: 'put', key: k('b'), value: k('2') }));
    const good = kv.snapshot();
    const fresh = new KvStore();
    fresh.restore(good);
    expect(toHex(fresh.snapshot())).toBe(toHex(good));
    const sessions = [['c', 2n, []]];
    for (const data of [
      [[k('b'), k('2')], [k('a'), k('1')]], // unsorted
      [[k('a'), k('1')], [k('a'), k('2')]], // a key twice
    ]) {
      const other = new KvStore();
      expect(() => other.restore(encode({ v: 1, data, sessions }))).toThrow(/not canonical/);
      expect(other.size).toBe(0);
    }
    expect(() => new KvStore().restore(encode({ v: 1, data: [], sessions: [['z', 1n, []], ['c', 1n, []]] }))).toThrow(/not canonical/);
  });

  it('refuses a session window that would forget a result as soon as it is stored', () => {
    for (const sessionWindow of [0, -1, 1.5, Number.NaN]) expect(() => new KvStore({ sessionWindow })).toThrow(ConfigError);
    const kv = new KvStore({ sessionWindow: 1 });
    const put = req('c', 1n, { op: 'put', key: k('n'), value: k('1') });
    run(kv, put);
    run(kv, req('d', 1n, { op: 'put', key: k('n'), value: k('2') }));
    // The retry gets the first answer and does not write again.
    expect(run(kv, put)).toEqual([{ ok: true }]);
    expect(toHex(kv.read(k('n'))!)).toBe(toHex(k('2')));
  });

  it('answers requests whose client or sequence number a snapshot could not carry with an error, keeping no session', () => {
    const kv = new KvStore();
    const put = (client: string, seq: bigint) => req(client, seq, { op: 'put', key: k('x'), value: k('1') });
    const res = run(kv, put('c'.repeat(257), 1n), put('\ud800', 1n), put('c', -1n), put('c', 1n << 64n), put('ok', (1n << 64n) - 1n));
    expect(res.slice(0, 4).map((r) => r.ok)).toEqual([false, false, false, false]);
    expect(res[4]).toEqual({ ok: true });
    const snap = kv.snapshot(); // would throw (seq >= 2^64, lone surrogate) before the check
    const again = new KvStore();
    again.restore(snap); // would throw (client id > 256) before the check
    expect(toHex(again.snapshot())).toBe(toHex(snap));
  });

  it('restores a snapshot larger than the codec\'s default 16 MiB message bound', () => {
    const kv = new KvStore();
    const value = new Uint8Array(256 * 1024).fill(7);
    for (let i = 0; i < 72; i++) run(kv, req('c', BigInt(i), { op: 'put', key: k(`key-${i}`), value }));
    const snap = kv.snapshot();
    expect(snap.length).toBeGreaterThan(16 * 1024 * 1024);
    const back = new KvStore();
    back.restore(snap);
    expect(bytesEqual(back.snapshot(), snap)).toBe(true);
  });

  it('leaves its state untouched when a snapshot cannot be read', () => {
    const kv = new KvStore();
    run(kv, req('c', 1n, { op: 'put', key: k('a'), value: k('1') }));
    const before = toHex(kv.snapshot());
    expect(() => kv.restore(encode({ v: 1, data: [[k('b'), 5]], sessions: [] }))).toThrow(DecodeError);
    expect(() => kv.restore(new Uint8Array([1, 2, 3]))).toThrow(DecodeError);
    expect(toHex(kv.snapshot())).toBe(before);
  });
});
