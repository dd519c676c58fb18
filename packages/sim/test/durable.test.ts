import { describe, it, expect } from 'vitest';
import { DurableStore } from '../src/durable.js';
import { KvApp, stateDigest } from '../src/kv-app.js';
import { utf8 } from '@phalanx/codec';

const rec = (index: bigint, s: string) => ({ index, data: utf8.encode(s) });

describe('DurableStore', () => {
  it('applies hard state, truncation, appends and compaction in that order', () => {
    const d = new DurableStore();
    d.apply({ id: 1n, hardState: Uint8Array.of(1), append: [rec(1n, 'a'), rec(2n, 'b'), rec(3n, 'c')] });
    d.apply({ id: 2n, truncateFrom: 2n, append: [rec(2n, 'B')] });
    expect(d.records().map((r) => utf8.decode(r.data))).toEqual(['a', 'B']);
    d.apply({ id: 3n, hardState: Uint8Array.of(2), append: [rec(3n, 'C')], compactTo: 2n });
    const r = d.recover();
    expect(r.hardState).toEqual(Uint8Array.of(2));
    expect(r.log.map((x) => x.index)).toEqual([2n, 3n]);
    expect(r.appliedHeight).toBe(0n);
    d.snapshot = { height: 2n, data: Uint8Array.of(9) };
    expect(d.recover().appliedHeight).toBe(2n);
    expect(d.recover().snapshot?.height).toBe(2n);
  });
});

describe('KvApp', () => {
  const req = (client: string, seq: bigint, p: string) => ({ client, seq, payload: utf8.encode(p) });

  it('is order-sensitive, executes each (client, seq) once, and round-trips snapshots', () => {
    const a = new KvApp();
    const b = new KvApp();
    a.apply([req('c0', 1n, 'mix k x'), req('c1', 1n, 'mix k y')], { height: 1n });
    b.apply([req('c1', 1n, 'mix k y'), req('c0', 1n, 'mix k x')], { height: 1n });
    expect(stateDigest(a.snapshot())).not.toEqual(stateDigest(b.snapshot()));
    const before = a.snapshot();
    expect(utf8.decode(a.apply([req('c0', 1n, 'mix k x')], { height: 2n })[0]!)).toBe('dup');
    expect(a.snapshot()).toEqual(before);
    const c = new KvApp();
    c.restore(before);
    expect(c.snapshot()).toEqual(before);
    expect(() => c.restore(Uint8Array.of(1, 2, 3))).toThrow();
  });

  it('refuses requests that fail the authenticity predicate', () => {
    const app = new KvApp((r) => r.client !== 'evil');
    const out = app.apply([req('evil', 1n, 'put k v'), req('c0', 1n, 'get k')], { height: 1n });
    expect(out.map((x) => utf8.decode(x))).toEqual(['err:auth', '']);
  });
});
