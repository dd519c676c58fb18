/**
 * The storage compliance suite: every `Storage` adapter runs it from its own tests. It checks the
 * contract in @phalanx/interface storage.ts — contiguous append, suffix truncation, prefix
 * compaction, hard state, snapshots, the KV space, read-your-writes, and that reopening after
 * `sync()` shows what was synced (and of later staged calls at most a prefix; none without a sync).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DataDirMismatchError, StorageError } from '@phalanx/interface';
import type { DataDirIdentity, LogRecord, Storage } from '@phalanx/interface';

/** One data directory under test. `open` may be called again after the previous handle closed. */
export interface StorageHarness {
  open(identity?: DataDirIdentity): Promise<Storage> | Storage;
  /** Removes the directory (called after each test). */
  cleanup?(): Promise<void> | void;
}

export interface StorageComplianceOptions {
  /** Skip the identity checks (for adapters that keep no identity). */
  readonly noIdentity?: boolean;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const b = (s: string): Uint8Array => enc.encode(s);
const s = (u: Uint8Array | undefined): string | undefined => (u === undefined ? undefined : dec.decode(u));
const rec = (index: bigint, text = `entry-${index}`): LogRecord => ({ index, data: b(text) });
const recs = (from: bigint, to: bigint): LogRecord[] => {
  const out: LogRecord[] = [];
  for (let i = from; i <= to; i++) out.push(rec(i));
  return out;
};
const texts = (rs: readonly LogRecord[]): string[] => rs.map((r) => `${r.index}:${dec.decode(r.data)}`);
async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** A small deterministic generator: `rnd(n)` is an integer in 0..n-1. */
function lcg(seed: number): (n: number) => number {
  let x = seed >>> 0;
  return (n) => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return Math.floor(((x >>> 8) / 2 ** 24) * n);
  };
}

/** The contract as plain maps: what a `Storage` must show after the same calls. */
class Model {
  log = new Map<bigint, string>();
  floor = 0n;
  first: bigint | undefined;
  last: bigint | undefined;
  hard = new Map<string, string>();
  kv = new Map<string, string>();

  clone(): Model {
    const m = new Model();
    m.restore(this);
    return m;
  }

  restore(o: Model): void {
    this.log = new Map(o.log);
    this.floor = o.floor;
    this.first = o.first;
    this.last = o.last;
    this.hard = new Map(o.hard);
    this.kv = new Map(o.kv);
  }

  append(rs: readonly LogRecord[]): void {
    for (const r of rs) this.log.set(r.index, dec.decode(r.data));
    this.first ??= rs[0]!.index;
    this.last = rs[rs.length - 1]!.index;
  }

  truncateFrom(from: bigint): void {
    if (this.first === undefined || this.last === undefined || from > this.last) return;
    for (const i of [...this.log.keys()]) if (i >= from) this.log.delete(i);
    if (from <= this.first) this.first = this.last = undefined;
    else this.last = from - 1n;
  }

  compactTo(to: bigint): void {
    if (to <= this.floor) return;
    this.floor = to;
    for (const i of [...this.log.keys()]) if (i < to) this.log.delete(i);
    if (this.first === undefined || this.last === undefined) return;
    if (to > this.last) this.first = this.last = undefined;
    else if (to > this.first) this.first = to;
  }
}

/** Everything a reader can observe, as text: the log (whole and a middle window), hard state, KV. */
async function observe(st: Storage): Promise<string> {
  const bounds = st.logBounds();
  const parts = [`bounds ${bounds ? `${bounds.first}..${bounds.last}` : 'empty'}`];
  parts.push(`log ${texts(await st.readLog(0n, 1n << 62n)).join(' ')}`);
  if (bounds) parts.push(`window ${texts(await st.readLog(bounds.first + 1n, bounds.last)).join(' ')}`);
  for (const name of ['h0', 'h1', 'h2']) parts.push(`${name}=${s(await st.getHardState(name)) ?? '-'}`);
  parts.push(`kv ${(await collect(st.kv.range(b(''), b('z')))).map(([k, v]) => `${s(k)}=${s(v)}`).join(' ')}`);
  for (const key of ['k0', 'k3']) parts.push(`${key}=${s(await st.kv.get(b(key))) ?? '-'}`);
  return parts.join('\n');
}

/** What `observe` must return for a storage in the model's state. */
function expected(m: Model): string {
  const entries = [...m.log.entries()].sort((x, y) => (x[0] < y[0] ? -1 : 1));
  const parts = [`bounds ${m.first === undefined ? 'empty' : `${m.first}..${m.last}`}`];
  parts.push(`log ${entries.map(([i, t]) => `${i}:${t}`).join(' ')}`);
  if (m.first !== undefined && m.last !== undefined) {
    const lo = m.first + 1n;
    const hi = m.last;
    parts.push(`window ${entries.filter(([i]) => i >= lo && i < hi).map(([i, t]) => `${i}:${t}`).join(' ')}`);
  }
  for (const name of ['h0', 'h1', 'h2']) parts.push(`${name}=${m.hard.get(name) ?? '-'}`);
  parts.push(`kv ${[...m.kv.entries()].sort((x, y) => (x[0] < y[0] ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  for (const key of ['k0', 'k3']) parts.push(`${key}=${m.kv.get(key) ?? '-'}`);
  return parts.join('\n');
}

export function runStorageCompliance(name: string, factory: () => Promise<StorageHarness> | StorageHarness, options: StorageComplianceOptions = {}): void {
  describe(`Storage compliance: ${name}`, () => {
    const open: Storage[] = [];
    const harnesses: StorageHarness[] = [];
    afterEach(async () => {
      for (const st of open.splice(0)) await st.close().catch(() => undefined);
      for (const h of harnesses.splice(0)) await h.cleanup?.();
    });
    async function fresh(): Promise<{ h: StorageHarness; st: Storage }> {
      const h = await factory();
      harnesses.push(h);
      const st = await h.open();
      open.push(st);
      return { h, st };
    }
    async function reopen(h: StorageHarness, old: Storage, identity?: DataDirIdentity): Promise<Storage> {
      await old.close();
      const st = await h.open(identity);
      open.push(st);
      return st;
    }

    it('starts empty', async () => {
      const { st } = await fresh();
      expect(st.logBounds()).toBeUndefined();
      expect(await st.readLog(0n, 100n)).toEqual([]);
      expect(await st.getHardState('vote')).toBeUndefined();
      expect(await st.snapshots.latest()).toBeUndefined();
      expect(await collect(st.snapshots.read())).toEqual([]);
      expect(await st.kv.get(b('k'))).toBeUndefined();
      await st.sync();
    });

    it('appends and reads back, seeing staged writes before sync', async () => {
      const { st } = await fresh();
      st.append(recs(1n, 5n));
      expect(st.logBounds()).toEqual({ first: 1n, last: 5n });
      expect(texts(await st.readLog(2n, 4n))).toEqual(['2:entry-2', '3:entry-3']);
      await st.sync();
      st.append([rec(6n)]);
      expect(texts(await st.readLog(0n, 100n))).toHaveLength(6);
      expect(texts(await st.readLog(5n, 7n))).toEqual(['5:entry-5', '6:entry-6']);
      expect(await st.readLog(7n, 10n)).toEqual([]);
      expect(await st.readLog(4n, 4n)).toEqual([]);
    });

    it('rejects non-contiguous appends and stages nothing from them', async () => {
      const { st } = await fresh();
      st.append(recs(1n, 3n));
      expect(() => st.append([rec(5n)])).toThrow(StorageError);
      expect(() => st.append([rec(3n)])).toThrow(StorageError);
      expect(() => st.append([rec(4n), rec(6n)])).toThrow(StorageError);
      expect(() => st.append([rec(4n), rec(4n)])).toThrow(StorageError);
      expect(st.logBounds()).toEqual({ first: 1n, last: 3n });
      st.append([rec(4n)]);
      await st.sync();
      expect(texts(await st.readLog(1n, 10n))).toEqual(['1:entry-1', '2:entry-2', '3:entry-3', '4:entry-4']);
    });

    it('lets the first record of an empty log start anywhere', async () => {
      const { h, st } = await fresh();
      st.append(recs(1000n, 1002n));
      await st.sync();
      const st2 = await reopen(h, st);
      expect(st2.logBounds()).toEqual({ first: 1000n, last: 1002n });
      expect(() => st2.append([rec(1004n)])).toThrow(StorageError);
    });

    it('keeps large indices exact', async () => {
      const { h, st } = await fresh();
      const big = (1n << 62n) + 7n;
      st.append([rec(big), rec(big + 1n)]);
      await st.sync();
      const st2 = await reopen(h, st);
      expect(st2.logBounds()).toEqual({ first: big, last: big + 1n });
      expect(texts(await st2.readLog(big + 1n, big + 2n))).toEqual([`${big + 1n}:entry-${big + 1n}`]);
    });

    it('truncates a suffix and lets it be replaced (Raft §5.3)', async () => {
      const { h, st } = await fresh();
      st.append(recs(1n, 10n));
      await st.sync();
      st.truncateFrom(6n);
      expect(st.logBounds()).toEqual({ first: 1n, last: 5n });
      st.append([rec(6n, 'new-6'), rec(7n, 'new-7')]);
      await st.sync();
      st.truncateFrom(100n); // beyond the end: nothing to do
      const st2 = await reopen(h, st);
      expect(st2.logBounds()).toEqual({ first: 1n, last: 7n });
      expect(texts(await st2.readLog(5n, 100n))).toEqual(['5:entry-5', '6:new-6', '7:new-7']);
    });

    it('truncates everything and starts again', async () => {
      const { h, st } = await fresh();
      st.append(recs(1n, 4n));
      st.truncateFrom(0n);
      expect(st.logBounds()).toBeUndefined();
      st.append(recs(2n, 3n));
      await st.sync();
      const st2 = await reopen(h, st);
      expect(texts(await st2.readLog(0n, 10n))).toEqual(['2:entry-2', '3:entry-3']);
      st2.truncateFrom(2n); // exactly the first index
      expect(st2.logBounds()).toBeUndefined();
      expect(await st2.readLog(0n, 10n)).toEqual([]);
      await st2.sync();
      const st3 = await reopen(h, st2);
      expect(st3.logBounds()).toBeUndefined();
      st3.append([rec(9n)]);
      expect(st3.logBounds()).toEqual({ first: 9n, last: 9n });
    });

    it('compacts a prefix and enforces the compaction point', async () => {
      const { h, st } = await fresh();
      st.append(recs(1n, 10n));
      await st.sync();
      st.compactTo(4n);
      expect(st.logBounds()).toEqual({ first: 4n, last: 10n });
      expect(texts(await st.readLog(1n, 6n))).toEqual(['4:entry-4', '5:entry-5']);
      st.compactTo(2n); // never moves back
      await st.sync();
      let st2 = await reopen(h, st);
      expect(st2.logBounds()).toEqual({ first: 4n, last: 10n });
      st2.compactTo(20n); // past the end: the log empties, appends resume at 20 or above
      expect(st2.logBounds()).toBeUndefined();
      expect(() => st2.append([rec(15n)])).toThrow(StorageError);
      st2.append([rec(20n)]);
      await st2.sync();
      st2 = await reopen(h, st2);
      expect(st2.logBounds()).toEqual({ first: 20n, last: 20n });
      expect(() => st2.append([rec(22n)])).toThrow(StorageError);
      st2.truncateFrom(0n);
      expect(() => st2.append([rec(19n)])).toThrow(StorageError);
    });

    it('applies mixed staged operations in call order', async () => {
      const { h, st } = await fresh();
      st.append(recs(1n, 5n));
      st.truncateFrom(3n);
      st.append([rec(3n, 'x')]);
      st.compactTo(2n);
      st.append([rec(4n, 'y')]);
      st.truncateFrom(4n);
      st.putHardState('term', b('1'));
      st.putHardState('term', b('2'));
      await st.sync();
      const st2 = await reopen(h, st);
      expect(texts(await st2.readLog(0n, 10n))).toEqual(['2:entry-2', '3:x']);
      expect(s(await st2.getHardState('term'))).toBe('2');
    });

    it('keeps named hard-state records and replaces them atomically', async () => {
      const { h, st } = await fresh();
      st.putHardState('vote', b('a'));
      st.putHardState('term', b('7'));
      expect(s(await st.getHardState('vote'))).toBe('a');
      await st.sync();
      st.putHardState('vote', b('bb'));
      await st.sync();
      const st2 = await reopen(h, st);
      expect(s(await st2.getHardState('vote'))).toBe('bb');
      expect(s(await st2.getHardState('term'))).toBe('7');
      expect(await st2.getHardState('other')).toBeUndefined();
      st2.putHardState('empty', new Uint8Array(0));
      st2.putHardState('', b('unnamed'));
      await st2.sync();
      const st3 = await reopen(h, st2);
      expect(await st3.getHardState('empty')).toEqual(new Uint8Array(0));
      expect(s(await st3.getHardState(''))).toBe('unnamed');
    });

    it('copies caller buffers: later mutation does not change what is stored', async () => {
      const { st } = await fresh();
      const data = b('abc');
      st.append([{ index: 1n, data }]);
      const hs = b('hs');
      st.putHardState('x', hs);
      const key = b('k');
      const val = b('v');
      st.kv.put(key, val);
      data[0] = 0;
      hs[0] = 0;
      key[0] = 0;
      val[0] = 0;
      await st.sync();
      expect(texts(await st.readLog(1n, 2n))).toEqual(['1:abc']);
      expect(s(await st.getHardState('x'))).toBe('hs');
      expect(s(await st.kv.get(b('k')))).toBe('v');
      const [r] = await st.readLog(1n, 2n);
      r!.data[0] = 0;
      expect(texts(await st.readLog(1n, 2n))).toEqual(['1:abc']);
    });

    it('keeps a key-value space with ordered ranges over binary keys', async () => {
      const { h, st } = await fresh();
      const keys = [new Uint8Array([0]), new Uint8Array([0, 0]), new Uint8Array([1]), new Uint8Array([1, 255]), new Uint8Array([255])];
      for (const [i, k] of keys.entries()) st.kv.put(k, b(`v${i}`));
      st.kv.put(b('\u0002'), b('gone'));
      st.kv.delete(b('\u0002'));
      expect(await st.kv.get(b('\u0002'))).toBeUndefined();
      await st.sync();
      st.kv.put(new Uint8Array([1]), b('v2-new')); // staged, visible in ranges
      const all = await collect(st.kv.range(new Uint8Array([]), new Uint8Array([255, 255])));
      expect(all.map(([k, v]) => [Array.from(k), s(v)])).toEqual([
        [[0], 'v0'],
        [[0, 0], 'v1'],
        [[1], 'v2-new'],
        [[1, 255], 'v3'],
        [[255], 'v4'],
      ]);
      const mid = await collect(st.kv.range(new Uint8Array([0, 0]), new Uint8Array([1, 255])));
      expect(mid.map(([k]) => Array.from(k))).toEqual([[0, 0], [1]]);
      await st.sync();
      st.kv.delete(new Uint8Array([255]));
      await st.sync();
      const st2 = await reopen(h, st);
      expect(s(await st2.kv.get(new Uint8Array([1])))).toBe('v2-new');
      expect(await st2.kv.get(new Uint8Array([255]))).toBeUndefined();
      expect((await collect(st2.kv.range(new Uint8Array([]), new Uint8Array([255, 255])))).length).toBe(4);
    });

    it('drops staged writes that were never synced when reopened', async () => {
      const { h, st } = await fresh();
      st.append(recs(1n, 3n));
      st.putHardState('vote', b('synced'));
      st.kv.put(b('a'), b('1'));
      await st.sync();
      st.append(recs(4n, 6n));
      st.truncateFrom(2n);
      st.compactTo(2n);
      st.putHardState('vote', b('staged'));
      st.kv.put(b('a'), b('2'));
      st.kv.put(b('b'), b('2'));
      const st2 = await reopen(h, st);
      expect(st2.logBounds()).toEqual({ first: 1n, last: 3n });
      expect(texts(await st2.readLog(0n, 10n))).toEqual(['1:entry-1', '2:entry-2', '3:entry-3']);
      expect(s(await st2.getHardState('vote'))).toBe('synced');
      expect(s(await st2.kv.get(b('a')))).toBe('1');
      expect(await st2.kv.get(b('b'))).toBeUndefined();
    });

    it('shares concurrent syncs and makes every write staged before each call durable', async () => {
      const { h, st } = await fresh();
      const syncs: Promise<void>[] = [];
      for (let i = 1n; i <= 50n; i++) {
        st.append([rec(i)]);
        st.putHardState('last', b(String(i)));
        syncs.push(st.sync());
      }
      await Promise.all(syncs);
      const st2 = await reopen(h, st);
      expect(st2.logBounds()).toEqual({ first: 1n, last: 50n });
      expect(s(await st2.getHardState('last'))).toBe('50');
    });

    it('writes snapshots in chunks and installs them atomically', async () => {
      const { h, st } = await fresh();
      const w = await st.snapshots.begin({ height: 10n, digest: b('d10') });
      await w.write(b('hello '));
      await w.write(b('world'));
      expect(await st.snapshots.latest()).toBeUndefined(); // not visible before commit
      await w.commit();
      expect(await st.snapshots.latest()).toEqual({ height: 10n, digest: b('d10') });
      expect(s(Buffer.concat(await collect(st.snapshots.read())))).toBe('hello world');

      const w2 = await st.snapshots.begin({ height: 20n, digest: b('d20') });
      await w2.write(b('partial'));
      await w2.abort();
      await expect(w2.write(b('x'))).rejects.toThrow(StorageError);
      const w3 = await st.snapshots.begin({ height: 30n, digest: b('d30') });
      await w3.write(b('never committed'));
      // The committed snapshot is durable without sync(); the unfinished one disappears.
      const st2 = await reopen(h, st);
      expect(await st2.snapshots.latest()).toEqual({ height: 10n, digest: b('d10') });
      expect(s(Buffer.concat(await collect(st2.snapshots.read())))).toBe('hello world');

      const big = new Uint8Array(300_000).map((_, i) => i % 251);
      const w4 = await st2.snapshots.begin({ height: 40n, digest: b('d40') });
      for (let off = 0; off < big.length; off += 65_536) await w4.write(big.subarray(off, off + 65_536));
      await w4.commit();
      const st3 = await reopen(h, st2);
      expect(await st3.snapshots.latest()).toEqual({ height: 40n, digest: b('d40') });
      expect(Buffer.concat(await collect(st3.snapshots.read())).equals(Buffer.from(big))).toBe(true);
      // Writes issued without waiting for each other keep the order of the calls.
      const w5 = await st3.snapshots.begin({ height: 40n, digest: b('d40') });
      const pending: Promise<void>[] = [];
      for (let off = 0; off < big.length; off += 65_536) pending.push(w5.write(big.subarray(off, off + 65_536)));
      await Promise.all(pending);
      await w5.commit();
      expect(Buffer.concat(await collect(st3.snapshots.read())).equals(Buffer.from(big))).toBe(true);
      const empty = await st3.snapshots.begin({ height: 41n, digest: b('d41') });
      await empty.commit();
      expect(await collect(st3.snapshots.read())).toEqual([]);
      expect((await st3.snapshots.latest())?.height).toBe(41n);
    });

    it('lets a reader finish the snapshot it started while a newer one is installed', async () => {
      const { st } = await fresh();
      const w = await st.snapshots.begin({ height: 1n, digest: b('d1') });
      for (const part of ['one ', 'two ', 'three']) await w.write(b(part));
      await w.commit();
      const it = st.snapshots.read()[Symbol.asyncIterator]();
      const first = await it.next();
      const w2 = await st.snapshots.begin({ height: 2n, digest: b('d2') });
      await w2.write(b('newer'));
      await w2.commit();
      const rest: Uint8Array[] = [];
      for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value);
      expect(s(Buffer.concat([first.value as Uint8Array, ...rest]))).toBe('one two three');
      expect(s(Buffer.concat(await collect(st.snapshots.read())))).toBe('newer');
    });

    it('matches a model under random interleavings of staged writes and overlapping syncs', async () => {
      // The risky part of a group-commit adapter is a flush in flight while more writes (truncate,
      // compact, re-append) are staged on top: reads must merge both, and reopening must show at
      // least what the last sync() covered, and otherwise only a prefix of the later staged calls
      // (a group commit may carry writes staged after the call; that equals a later crash).
      for (let seed = 1; seed <= 12; seed++) {
        const rnd = lcg(seed);
        const { h, st: first } = await fresh();
        let st = first;
        const live = new Model();
        for (let round = 0; round < 3; round++) {
          const pendingSyncs: Promise<void>[] = [];
          const history = [live.clone()];
          let covered = 0;
          for (let step = 0; step < 40; step++) {
            const r = rnd(100);
            const at = (live.last ?? live.floor) + BigInt(rnd(7)) - 5n;
            if (r < 35) {
              const start = live.last === undefined ? live.floor + BigInt(rnd(3)) : live.last + 1n;
              const batch = Array.from({ length: 1 + rnd(3) }, (_, i) => rec(start + BigInt(i), `s${seed}-${round}-${step}-${i}`));
              st.append(batch);
              live.append(batch);
            } else if (r < 45) {
              const from = at < 0n ? 0n : at;
              st.truncateFrom(from);
              live.truncateFrom(from);
            } else if (r < 52) {
              const to = at < 0n ? 0n : at;
              st.compactTo(to);
              live.compactTo(to);
            } else if (r < 62) {
              const name = `h${rnd(3)}`;
              st.putHardState(name, b(`${name}@${round}.${step}`));
              live.hard.set(name, `${name}@${round}.${step}`);
            } else if (r < 72) {
              const key = `k${rnd(4)}`;
              if (rnd(3) === 0) {
                st.kv.delete(b(key));
                live.kv.delete(key);
              } else {
                st.kv.put(b(key), b(`${key}@${round}.${step}`));
                live.kv.set(key, `${key}@${round}.${step}`);
              }
            } else if (r < 85) {
              pendingSyncs.push(st.sync()); // not awaited: the next writes stage over a running flush
              covered = history.length; // the state after the latest call
            } else {
              expect(await observe(st), `seed ${seed} round ${round} step ${step}`).toBe(expected(live));
            }
            history.push(live.clone());
          }
          await Promise.all(pendingSyncs);
          expect(await observe(st), `seed ${seed} round ${round} end`).toBe(expected(live));
          st = await reopen(h, st);
          const seen = await observe(st);
          // States that read alike may differ only in their compaction point, which no read shows;
          // continue from the highest one: appends the model then makes are valid for either.
          let match = -1;
          history.forEach((m, i) => {
            if (i >= covered - 1 && expected(m) === seen && (match < 0 || m.floor >= history[match]!.floor)) match = i;
          });
          expect(match, `seed ${seed} round ${round}: reopened state is neither the synced state nor a later prefix:\n${seen}\nsynced:\n${expected(history[Math.max(0, covered - 1)]!)}`).toBeGreaterThanOrEqual(0);
          live.restore(history[match]!);
        }
      }
    });

    it('refuses use after close', async () => {
      const { st } = await fresh();
      st.append([rec(1n)]);
      st.kv.put(b('k'), b('v'));
      await st.sync();
      await st.close();
      expect(() => st.append([rec(2n)])).toThrow(StorageError);
      await expect(st.sync()).rejects.toThrow(StorageError);
      // Reads too: a closed handle must not keep serving what may since have changed on disk.
      await expect(st.readLog(0n, 10n)).rejects.toThrow(StorageError);
      await expect(st.getHardState('x')).rejects.toThrow(StorageError);
      await expect(st.kv.get(b('k'))).rejects.toThrow(StorageError);
      await expect(collect(st.kv.range(b(''), b('z')))).rejects.toThrow(StorageError);
      await expect(collect(st.snapshots.read())).rejects.toThrow(StorageError);
      await expect(st.snapshots.begin({ height: 1n, digest: b('d') })).rejects.toThrow(StorageError);
    });

    it('takes truncation and compaction points at either end of the index range and stays usable', async () => {
      const { h, st } = await fresh();
      st.append(recs(1n, 3n));
      st.truncateFrom(-1n); // everything
      expect(st.logBounds()).toBeUndefined();
      st.append(recs(5n, 6n));
      await st.sync();
      st.compactTo(1n << 64n); // past every storable index: the log empties, nothing can follow
      expect(st.logBounds()).toBeUndefined();
      await st.sync();
      const st2 = await reopen(h, st);
      expect(st2.logBounds()).toBeUndefined();
      expect(await st2.readLog(0n, 100n)).toEqual([]);
      st2.putHardState('still', b('writable'));
      await st2.sync();
    });

    it('refuses log indices outside 0..2^64-1 (what every adapter can store) and stages nothing', async () => {
      const { st } = await fresh();
      expect(() => st.append([rec(1n << 64n)])).toThrow(StorageError);
      expect(() => st.append([rec(-1n)])).toThrow(StorageError);
      st.append([rec((1n << 64n) - 1n)]);
      expect(() => st.append([rec(1n << 64n)])).toThrow(StorageError);
      expect(st.logBounds()).toEqual({ first: (1n << 64n) - 1n, last: (1n << 64n) - 1n });
      await st.sync();
      // Reading up to and past the top index works from staged and from stored records alike.
      expect(texts(await st.readLog(0n, 1n << 65n))).toEqual([`${(1n << 64n) - 1n}:entry-${(1n << 64n) - 1n}`]);
      expect(texts(await st.readLog((1n << 64n) - 1n, 1n << 64n))).toHaveLength(1);
    });

    if (!options.noIdentity) {
      it('refuses a data directory that belongs to another validator, protocol or chain', async () => {
        const h = await factory();
        harnesses.push(h);
        const id = { validator: 'v1', protocol: 'pbft', chainId: 'test-1' };
        let st = await h.open(id);
        open.push(st);
        st.append([rec(1n)]);
        await st.sync();
        st = await reopen(h, st, id);
        expect(st.logBounds()).toEqual({ first: 1n, last: 1n });
        await st.close();
        for (const other of [
          { ...id, validator: 'v2' },
          { ...id, protocol: 'raft' },
          { ...id, chainId: 'test-2' },
        ]) {
          await expect(Promise.resolve().then(() => h.open(other))).rejects.toThrow(DataDirMismatchError);
        }
        st = await h.open(id);
        open.push(st);
        expect(st.logBounds()).toEqual({ first: 1n, last: 1n });
      });
    }
  });
}
