import { describe, it, expect } from 'vitest';
import { ReferenceKv, kvCommand, kvPutOfSize, measureUnreplicatedKv, unreplicatedKvCeiling, KV_GET, KV_PUT, KV_DELETE } from '../src/reference-kv.js';

const req = (client: string, seq: bigint, payload: Uint8Array) => ({ client, seq, payload });

describe('ReferenceKv', () => {
  it('puts, gets and deletes', () => {
    const kv = new ReferenceKv();
    const res = kv.apply([
      req('c', 1n, kvCommand(KV_PUT, 'a', Uint8Array.of(7, 8))),
      req('c', 2n, kvCommand(KV_GET, 'a')),
      req('c', 3n, kvCommand(KV_DELETE, 'a')),
      req('c', 4n, kvCommand(KV_GET, 'a')),
    ]);
    expect(res.map((r) => [...r])).toEqual([[1], [1, 7, 8], [1], [0]]);
  });

  it('executes each (client, seq) once and answers a retry with the original result', () => {
    const kv = new ReferenceKv();
    kv.apply([req('c', 1n, kvCommand(KV_PUT, 'a', Uint8Array.of(1)))]);
    const [retry, older] = kv.apply([req('c', 1n, kvCommand(KV_PUT, 'a', Uint8Array.of(2))), req('c', 0n, kvCommand(KV_DELETE, 'a'))]);
    expect([...retry!]).toEqual([1]);
    expect(older!.length).toBe(0);
    expect([...kv.get('a')!]).toEqual([1]);
  });

  it('answers malformed commands without throwing', () => {
    const kv = new ReferenceKv();
    const res = kv.apply([req('c', 1n, Uint8Array.of(1)), req('c', 2n, Uint8Array.of(1, 0, 9, 65)), req('c', 3n, Uint8Array.of(9, 0, 0))]);
    expect(res.map((r) => [...r])).toEqual([[0xff], [0xff], [0xff]]);
  });

  it('snapshots canonically and restores, refusing truncated bytes', () => {
    const a = new ReferenceKv();
    const b = new ReferenceKv();
    a.apply([req('x', 1n, kvPutOfSize(1)), req('y', 1n, kvPutOfSize(2))]);
    b.apply([req('y', 1n, kvPutOfSize(2)), req('x', 1n, kvPutOfSize(1))]);
    expect(a.snapshot()).toEqual(b.snapshot());
    const c = new ReferenceKv();
    c.restore(a.snapshot());
    expect(c.snapshot()).toEqual(a.snapshot());
    expect(c.size).toBe(2);
    expect(() => c.restore(a.snapshot().subarray(0, 10))).toThrow(/truncated/);
    expect(c.size).toBe(2);
  });

  it('builds puts of an exact size', () => {
    expect(kvPutOfSize(12345, 100).length).toBe(100);
    expect(() => kvPutOfSize(1, 2)).toThrow(RangeError);
  });

  it('measures the unreplicated rate as a ceiling record', () => {
    const m = measureUnreplicatedKv({ minTimeMs: 1, warmupMs: 0, batch: 2, applyBatch: 8, keys: 32 });
    expect(m.ops % 16).toBe(0);
    const c = unreplicatedKvCeiling(m);
    expect(c).toMatchObject({ unit: 'ops/s', value: m.opsPerSec });
    expect(c.name).toMatch(/100 B/);
  });
});
